# Sourced by the other scripts: installs what a fresh machine lacks and picks
# a target directory outside the clone, so RocksDB's 14-minute C++ build is
# done once per machine and shared by every clone, test and binary.
set -euo pipefail

# libclang.so or libclang-NN.so; libclang-cpp.so (present on some machines
# without libclang) does not do.
has_libclang() {
    ldconfig -p 2>/dev/null | grep -qE 'libclang(-[0-9.]+)?\.so' && return 0
    compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null \
        || compgen -G '/usr/lib/llvm-*/lib/libclang-[0-9]*.so*' >/dev/null
}
if ! has_libclang; then
    echo "tansiq: installing libclang-dev (RocksDB's Rust bindings need it)" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-dev >/dev/null
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tansiq-target}"
mkdir -p "$CARGO_TARGET_DIR"
