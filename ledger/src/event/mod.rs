//! VALIDATE: everything about an event that is checked without the ledger's
//! state. A signed envelope becomes an [`Event`] (size, canonical protobuf,
//! header, field rules in [`fields`], codelists in [`codes`]); signatures are
//! verified in batches (`verify_events`). Reads no storage: the checks
//! against the state (key chains, authorisation, references) are `append`'s.

mod admit;
pub mod codes;
mod decode;
pub mod fields;
mod verified;
mod verify;

pub use admit::{admit, admit_noting, admit_verified_here, CheckedRequest, Signatures};
pub use decode::{kind_name, Event};
pub use tansiq_proto::v1::event_body::Kind;
pub use verified::VerifiedHere;
pub use verify::verify_events_on_this_thread;
pub(crate) use verify::{bad_signature, verify_events};
