//! Generated protobuf and gRPC types of Tansiq's wire protocol (package
//! `tansiq.v1`). The `.proto` files beside this crate are the source of truth;
//! docs/PROTOCOL.md explains the bytes that are signed and hashed.

/// Messages and services of package `tansiq.v1`, with their proto3 JSON mapping.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/tansiq.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/tansiq.v1.serde.rs"));
}

/// The stored form of the records each event reads or writes (package
/// `tansiq.store.v1`): a node's RocksDB values, not the wire protocol.
pub mod store {
    /// Store format 3's records.
    pub mod v1 {
        #![allow(clippy::all, missing_docs)]
        include!(concat!(env!("OUT_DIR"), "/tansiq.store.v1.rs"));
    }
}

/// Encoded `FileDescriptorSet` of the protocol, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/tansiq_descriptor.bin"));
