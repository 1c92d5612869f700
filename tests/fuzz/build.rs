//! RocksDB is C++. librocksdb-sys links libstdc++ only when it compiles
//! RocksDB itself; scripts/fuzz.sh points it at the main build's library
//! instead (ROCKSDB_LIB_DIR, ROCKSDB_STATIC), so the C++ runtime is linked
//! here. (The fuzz targets would get it through libFuzzer, also C++; the
//! seed generator and `cargo test` would not.)
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-lib=dylib=stdc++");
}
