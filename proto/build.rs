//! Compiles `tansiq/v1/*.proto` (and the stored records'
//! `tansiq/store/v1/records.proto`) without a system protoc: `protox` parses the
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
/// Not the wire protocol (so not in the reflection descriptor above): the
/// stored form of the records each event writes (ledger/src/store).
const STORE_PROTO: &str = "tansiq/store/v1/records.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let descriptors = protox::compile(PROTOS, ["."])?;
    let descriptor_bytes = descriptors.encode_to_vec();
    fs::write(out_dir.join("tansiq_descriptor.bin"), &descriptor_bytes)?;

    // Code for the protocol and the stored form together (the store's
    // messages hold the protocol's).
    let all: Vec<&str> = PROTOS.iter().copied().chain([STORE_PROTO]).collect();
    println!("cargo:rerun-if-changed={STORE_PROTO}");
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Maps encode in key order, so that a record's stored bytes depend
        // on the record only (projections are compared byte for byte with
        // a rebuild).
        .btree_map(".tansiq.store.v1")
        .compile_fds(protox::compile(&all, ["."])?)?;

    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_bytes)?
        .build(&[".tansiq.v1"])?;
    Ok(())
}
