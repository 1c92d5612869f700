//! Compiles `tansiq/v1/*.proto` without a system protoc: `protox` parses the
//! files in pure Rust, `tonic-prost-build` generates messages and services,
//! `pbjson-build` generates the canonical proto3 JSON mapping the CLI accepts.
use std::{env, fs, path::PathBuf};

use prost::Message;

const PROTOS: &[&str] = &[
    "tansiq/v1/events.proto",
    "tansiq/v1/ledger.proto",
    "tansiq/v1/coverage.proto",
    "tansiq/v1/cluster.proto",
    "tansiq/v1/interchange.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let descriptors = protox::compile(PROTOS, ["."])?;
    let descriptor_bytes = descriptors.encode_to_vec();
    fs::write(out_dir.join("tansiq_descriptor.bin"), &descriptor_bytes)?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;

    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_bytes)?
        .build(&[".tansiq"])?;
    Ok(())
}
