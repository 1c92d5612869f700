//! The fuzz targets' bodies, one function per target (fuzz_targets/*.rs call
//! them), so that the same code runs under libFuzzer (scripts/fuzz.sh) and
//! in `cargo test` (tests/regressions.rs replays corpus/ and regressions/).
//!
//! Each function must return normally on every input: a decoder's Err is an
//! expected outcome; a panic, an overflow (debug assertions are on), an
//! abort, a hang or unbounded memory is a finding. The few `assert!`s below
//! check properties that hold for every input whatever it is (they are
//! named in their messages).

use std::sync::OnceLock;

use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::{Entry, EntryPayload};
use prost::Message;
use tansiq_ledger::author::Author;
use tansiq_ledger::event::{admit, verify_events_on_this_thread, Event, Signatures};
use tansiq_ledger::iati::Reader;
use tansiq_ledger::iati::plan::{self as iati_plan, PcodeMap};
use tansiq_ledger::ids::OrgId;
use tansiq_ledger::replication::TypeConfig;
use tansiq_ledger::signing::{ChainId, KeyPair};
use tansiq_proto::v1 as pb;

/// The chain every target decodes for (the seeds are signed for it): the
/// id `Genesis::new_chain` derives for examples/seeds.rs's genesis (which
/// checks it).
pub const CHAIN: &str = "tansiq-fuzz-7d734d48afee5cedc8541cf4";

/// The IATI activities read from one input, at most (a bound, not a limit
/// the reader has: a fuzz input holds a few thousand activities at most).
const IATI_ACTIVITIES_MAX: usize = 10_000;

pub fn chain() -> &'static ChainId {
    static CHAIN_ID: OnceLock<ChainId> = OnceLock::new();
    CHAIN_ID.get_or_init(|| ChainId::parse(CHAIN).expect("a valid chain id"))
}

/// The gazetteer map of the IATI fixtures (tests/fixtures/iati).
fn pcode_map() -> &'static PcodeMap {
    static MAP: OnceLock<PcodeMap> = OnceLock::new();
    MAP.get_or_init(|| {
        PcodeMap::parse(include_str!("../../fixtures/iati/pcode-map.csv"))
            .expect("the fixture's P-code map parses")
    })
}

/// Decodes one signed event as the node does on submission, then (if it
/// decodes) verifies its signature and checks decoding is deterministic.
fn decode_envelopes(envelopes: Vec<pb::SignedEvent>) {
    let chain = chain();
    let Some(Ok(events)) = admit(chain, [envelopes], Signatures::Unchecked).pop() else {
        return;
    };
    let refs: Vec<&Event> = events.iter().collect();
    let _ = verify_events_on_this_thread(chain, &refs);
    for event in &events {
        // An accepted envelope, stored and served again, decodes to the same
        // event (the ledger re-decodes stored events, e.g. iati_plan::existing).
        let again = Event::decode(chain, event.to_signed());
        assert!(
            matches!(&again, Ok(second) if second.id == event.id),
            "property: a decoded event decodes again to the same id: {again:?}"
        );
    }
}

/// Target `event_decode`: the input is an event body followed by its
/// 64-byte signature (shorter inputs: all signature); it also reads the whole
/// input as a protobuf `SubmitBatchRequest` (what a client sends).
pub fn event_decode(data: &[u8]) {
    let chain = chain();
    let (body, signature) = data.split_at(data.len().saturating_sub(64));
    let signed = pb::SignedEvent {
        body: body.to_vec(),
        signature: signature.to_vec(),
    };
    let _ = Event::decode(chain, signed.clone());
    decode_envelopes(vec![signed]);
    if let Ok(request) = pb::SubmitBatchRequest::decode(data) {
        decode_envelopes(request.events);
    }
}

/// The author the CLI would be: a fixed key of organisation "fuzz-org".
fn cli_author() -> Author {
    Author::new(
        chain().clone(),
        OrgId::parse("fuzz-org").expect("a valid org id"),
        KeyPair::from_seed([7; 32]),
        0,
        None,
    )
}

/// Target `cli_json`: the CLI's reading of an events file (cli/src/signer.rs,
/// `read_bodies`): text → serde_json::Value → one object or an array →
/// `pb::EventBody` through its pbjson serde form. A body that parses is
/// encoded with prost and decoded as the node would (as parsed, then as the
/// CLI sends it: the kind in the author's next body, signed).
pub fn cli_json(data: &[u8]) {
    // The CLI reads the file with read_to_string: not UTF-8 is an error.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let items = match value {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    for item in items {
        let Ok(body) = serde_json::from_value::<pb::EventBody>(item) else {
            continue;
        };
        // Printing a body back as JSON (pbjson's Serialize) must work too.
        let _ = serde_json::to_string(&body);
        decode_envelopes(vec![pb::SignedEvent {
            body: body.encode_to_vec(),
            signature: vec![0; 64],
        }]);
        let Some(kind) = body.kind else {
            continue;
        };
        let mut author = cli_author();
        let (signed, _) = author.sign(kind, 1_780_000_000_000);
        if let Some(Err(rejection)) = admit(chain(), [vec![signed.clone()]], Signatures::Unchecked).pop() {
            // What the CLI builds (prost's encoding of a body) is canonical:
            // the node must never refuse it as non-canonical.
            let text = rejection.to_string();
            assert!(
                !text.contains("canonical protobuf form"),
                "property: a body the CLI encodes is canonical: {text}"
            );
        }
        decode_envelopes(vec![signed]);
    }
}

/// Target `iati_reader`: reads IATI activities until the end or an error,
/// and plans each (iati_plan::plan and the events it implies for a project
/// the ledger does not hold yet), as `tansiq iati import` does.
pub fn iati_reader(data: &[u8]) {
    let map = pcode_map();
    let mut reader = Reader::new(data);
    for _ in 0..IATI_ACTIVITIES_MAX {
        match reader.next_activity() {
            Ok(Some(activity)) => {
                let _ = iati_plan::project_id(&activity.identifier);
                if let Ok(plan) = iati_plan::plan(&activity, map) {
                    for kind in iati_plan::difference(&plan, None) {
                        let _ = tansiq_ledger::event::fields::check(&kind);
                    }
                }
            }
            Ok(None) | Err(_) => return,
        }
    }
}

/// Target `snapshot_reader`: a Raft snapshot file as a follower receives it.
pub fn snapshot_reader(data: &[u8]) {
    let mut seen = 0u64;
    let result = tansiq_ledger::store::snapshot_file::read_pairs(data, |_family, _key, _value| {
        seen += 1;
        Ok(())
    });
    if let Ok(pairs) = result {
        assert_eq!(pairs, seen, "property: read_pairs counts the pairs it gives");
    }
}

/// The requests of a Raft entry, decoded as applying it does.
fn apply_entry(entry: &Entry<TypeConfig>) {
    if let EntryPayload::Normal(proposal) = &entry.payload {
        for request in &proposal.requests {
            decode_envelopes(request.events.clone());
        }
    }
}

/// ledger/src/replication/log_store.rs `decode_entry` (private): a stored Raft log entry is
/// 0x01 then postcard, or (older entries) JSON.
fn decode_entry(bytes: &[u8]) -> Option<Entry<TypeConfig>> {
    match bytes.split_first() {
        Some((&0x01, rest)) => postcard::from_bytes(rest).ok(),
        Some((b'{', _)) => serde_json::from_slice(bytes).ok(),
        _ => None,
    }
}

/// Target `raft_message`: the input as each node-to-node Raft message (as
/// the node's Raft service decodes them: postcard, node/src/cluster/wire.rs) and as a stored log entry; the
/// requests of decoded entries are decoded as applying them would.
pub fn raft_message(data: &[u8]) {
    if let Ok(append) = postcard::from_bytes::<AppendEntriesRequest<TypeConfig>>(data) {
        for entry in &append.entries {
            apply_entry(entry);
        }
    }
    let _ = postcard::from_bytes::<VoteRequest<u64>>(data);
    if let Ok(install) = postcard::from_bytes::<InstallSnapshotRequest<TypeConfig>>(data) {
        // A follower writes the chunks to a file and reads it as a snapshot.
        if install.offset == 0 {
            snapshot_reader(&install.data);
        }
    }
    if let Some(entry) = decode_entry(data) {
        apply_entry(&entry);
    }
}
