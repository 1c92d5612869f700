//! Records the profile and optimisation level this crate was built at, so that every
//! benchmark can print the build it ran (see `tansiq_tests::build_profile`).

fn main() {
    let opt_level = std::env::var("OPT_LEVEL").unwrap_or_else(|_| "?".into());
    println!("cargo:rustc-env=TANSIQ_BUILD_OPT_LEVEL={opt_level}");
    // The profile's directory under the target directory (`debug` for the
    // dev profile): OUT_DIR is TARGET/<dir>/build/<crate>-<hash>/out.
    let dir = std::env::var("OUT_DIR")
        .ok()
        .and_then(|out| {
            std::path::Path::new(&out)
                .ancestors()
                .nth(3)
                .and_then(|dir| dir.file_name())
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "?".into());
    println!("cargo:rustc-env=TANSIQ_BUILD_PROFILE_DIR={dir}");
    println!("cargo:rerun-if-env-changed=OPT_LEVEL");
}
