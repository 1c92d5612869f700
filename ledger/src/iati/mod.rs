//! IATI interchange: reading activity files as donors publish them
//! ([`read`], streamed, into [`activity`]'s plain data), deciding what each
//! activity becomes on the ledger ([`plan`]) and writing the ledger's
//! projects as IATI 2.03 ([`export`]).
//! Built on the ledger's public API (stores, events, codelists); nothing
//! here writes the ledger: a donor signs and submits what a plan says.

pub mod activity;
pub mod export;
pub mod plan;
pub mod read;

pub use activity::Activity;
pub use read::Reader;
