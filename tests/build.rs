//! Records the optimisation level this crate was built at, so that every
//! benchmark can print the build it ran (see `tansiq_tests::build_profile`).

fn main() {
    let opt_level = std::env::var("OPT_LEVEL").unwrap_or_else(|_| "?".into());
    println!("cargo:rustc-env=TANSIQ_BUILD_OPT_LEVEL={opt_level}");
    println!("cargo:rerun-if-env-changed=OPT_LEVEL");
}
