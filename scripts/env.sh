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
# apt_install WHY PACKAGE...: installs Debian packages (with sudo unless root).
apt_install() {
    local why="$1"
    shift
    echo "tansiq: installing $* ($why)" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
if ! has_libclang; then
    apt_install "RocksDB's Rust bindings need it" libclang-dev
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tansiq-target}"
mkdir -p "$CARGO_TARGET_DIR"
