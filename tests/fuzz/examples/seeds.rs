//! Writes the seed corpus (tests/fuzz/corpus/<target>/): real signed events
//! committed to a real ledger, the ledger's state as a snapshot file, Raft
//! messages and log entries carrying them, the CLI's JSON examples and the
//! IATI fixtures. Deterministic (fixed keys and times): rerunning it rewrites
//! the same files.
//!
//!     cargo run --manifest-path tests/fuzz/Cargo.toml --example seeds
//!
//! (scripts/fuzz.sh does not run it: the corpus is committed.)

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::{
    BasicNode, CommittedLeaderId, Entry, EntryPayload, LogId, Membership, SnapshotMeta,
    StoredMembership, Vote,
};
use prost::Message;
use tansiq_ledger::event::{admit, Signatures};
use tansiq_ledger::author::Author;
use tansiq_ledger::genesis::Genesis;
use tansiq_ledger::ids::OrgId;
use tansiq_ledger::replication::{Proposal, TypeConfig};
use tansiq_ledger::signing::KeyPair;
use tansiq_ledger::store::cf;
use tansiq_ledger::Ledger;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::event_body::Kind;

const CREATED_AT_MS: i64 = 1_780_000_000_000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = root().join("corpus").join(target);
    fs::create_dir_all(&dir).expect("create the corpus directory");
    fs::write(dir.join(name), bytes).expect("write a seed");
}

fn names(latin: &str, arabic: &str) -> Option<pb::Names> {
    Some(pb::Names {
        latin: latin.into(),
        arabic: arabic.into(),
    })
}

/// The kinds of the JSON file `examples/<name>` (the CLI's form).
fn example_kinds(name: &str) -> Vec<Kind> {
    let text = fs::read_to_string(root().join("../../examples").join(name)).expect("an example");
    let value: serde_json::Value = serde_json::from_str(&text).expect("example JSON");
    let items = match value {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    items
        .into_iter()
        .map(|item| {
            let body: pb::EventBody = serde_json::from_value(item).expect("an event body");
            body.kind.expect("a kind")
        })
        .collect()
}

/// The snapshot file format (ledger/src/store/snapshot_file.rs; its writer is
/// crate-private): magic, (family, key length, key, value length, value)*,
/// 0xFF, the pair count, the BLAKE3 hash of everything before it.
fn snapshot_file(pairs: &[(u8, Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = b"TANSIQ-SNAPSHOT-1\n".to_vec();
    for (family, key, value) in pairs {
        out.push(*family);
        for part in [key, value] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
    }
    out.push(0xFF);
    out.extend_from_slice(&(pairs.len() as u64).to_be_bytes());
    let hash = blake3::hash(&out);
    out.extend_from_slice(hash.as_bytes());
    out
}

fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn main() {
    let chain = tansiq_fuzz::chain().clone();
    let ministry = OrgId::parse("ministry-of-planning").expect("org id");
    let ministry_key = KeyPair::from_seed([1; 32]);
    let donor = OrgId::parse("undp-libya").expect("org id");
    let donor_key = KeyPair::from_seed([2; 32]);
    let genesis = Genesis::new_chain(
        "tansiq-fuzz",
        &ministry,
        pb::Names {
            latin: "Ministry of Planning".into(),
            arabic: "وزارة التخطيط".into(),
        },
        &[ministry_key.public()],
        CREATED_AT_MS,
    )
    .expect("genesis");
    assert_eq!(genesis.chain, chain, "tansiq_fuzz::CHAIN is this genesis' chain id");

    // The events: the ministry registers the municipalities of
    // examples/municipalities.json and the donor; the donor registers the
    // projects of examples/project.json and examples/proposal-ghadames.json
    // and records a transaction.
    let mut by_ministry = Author::new(
        chain.clone(),
        ministry.clone(),
        KeyPair::from_seed([1; 32]),
        0,
        None,
    );
    let mut by_donor = Author::new(chain.clone(), donor.clone(), KeyPair::from_seed([2; 32]), 0, None);
    let mut kinds: Vec<(&str, bool, Kind)> = Vec::new();
    for kind in example_kinds("municipalities.json") {
        kinds.push(("municipality", true, kind));
    }
    kinds.push((
        "organisation",
        true,
        Kind::OrganisationRegistered(pb::OrganisationRegistered {
            pcode: String::new(),
            org_id: donor.to_string(),
            role: pb::OrgRole::Donor as i32,
            name: names("UNDP Libya", "برنامج الأمم المتحدة الإنمائي - ليبيا"),
            iati_identifier: "XM-DAC-41114".into(),
            iati_org_type: 40,
            keys: vec![donor_key.public().0.to_vec()],
        }),
    ));
    for kind in example_kinds("project.json") {
        kinds.push(("project", false, kind));
    }
    kinds.push((
        "transaction",
        false,
        Kind::TransactionRecorded(pb::TransactionRecorded {
            receiver_org_id: String::new(),
            project_id: "undp-ly-water-1".into(),
            transaction_type: 3,
            date: "2026-03-01".into(),
            value: Some(pb::Money {
                value: "25000.50".into(),
                currency: "USD".into(),
            }),
            provider_activity_id: String::new(),
            description: "First disbursement".into(),
        }),
    ));
    for kind in example_kinds("proposal-ghadames.json") {
        kinds.push(("proposal", false, kind));
    }
    let mut signed = Vec::new();
    for (index, (label, from_ministry, kind)) in kinds.into_iter().enumerate() {
        let author = if from_ministry {
            &mut by_ministry
        } else {
            &mut by_donor
        };
        // The CLI's JSON form of the body (what `tansiq submit FILE` reads).
        let json = serde_json::to_string_pretty(&pb::EventBody {
            kind: Some(kind.clone()),
            ..Default::default()
        })
        .expect("JSON");
        write("cli_json", &format!("gen-{index:02}-{label}.json"), json.as_bytes());
        let (envelope, _) = author.sign(kind, CREATED_AT_MS + index as i64);
        let mut seed = envelope.body.clone();
        seed.extend_from_slice(&envelope.signature);
        write("event_decode", &format!("{index:02}-{label}.bin"), &seed);
        signed.push(envelope);
    }
    // Two events as one client request (SubmitBatchRequest), as sent.
    let batch = pb::SubmitBatchRequest {
        events: signed[..2].to_vec(),
    };
    write("event_decode", "batch-request.pb", &batch.encode_to_vec());

    // Commit them to a real ledger; its state becomes the snapshot seed.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ledger = Ledger::open(&dir.path().join("db"), Some(&genesis)).expect("open a ledger");
    for (index, envelope) in signed.iter().enumerate() {
        let requests = admit(&chain, [vec![envelope.clone()]], Signatures::Verify);
        let outcome = ledger
            .commit_group(requests, CREATED_AT_MS + 1000 + index as i64)
            .expect("commit");
        match &outcome[0] {
            Ok(_) => eprintln!("event {index}: committed"),
            Err(rejection) => eprintln!("event {index}: refused ({rejection}); kept as a seed"),
        }
    }
    let mut pairs = Vec::new();
    for (index, family) in (0u8..).zip(cf::STATE) {
        for (key, value) in ledger.store().dump(family).expect("dump") {
            pairs.push((index, key.to_vec(), value.to_vec()));
        }
    }
    let snapshot = snapshot_file(&pairs);
    eprintln!("snapshot: {} pairs, {} bytes", pairs.len(), snapshot.len());
    write("snapshot_reader", "ledger-state.snap", &snapshot);
    write("snapshot_reader", "empty.snap", &snapshot_file(&[]));
    write(
        "snapshot_reader",
        "two-pairs.snap",
        &snapshot_file(&[(0, b"k".to_vec(), b"v".to_vec()), (3, vec![], vec![0; 40])]),
    );

    // Raft messages (postcard, as node-to-node) and log entries.
    let proposal = Proposal {
        committed_at_ms: CREATED_AT_MS + 5000,
        requests: vec![
            pb::SubmitBatchRequest {
                events: signed[..2].to_vec(),
            },
            pb::SubmitBatchRequest {
                events: vec![signed[3].clone()],
            },
        ],
    };
    let nodes: BTreeMap<u64, BasicNode> = (1..=3)
        .map(|id| (id, BasicNode::new(format!("10.0.0.{id}:7400"))))
        .collect();
    let membership = Membership::new(vec![BTreeSet::from([1, 2, 3])], nodes);
    let entries: Vec<Entry<TypeConfig>> = vec![
        Entry {
            log_id: log_id(2, 7),
            payload: EntryPayload::Blank,
        },
        Entry {
            log_id: log_id(2, 8),
            payload: EntryPayload::Membership(membership.clone()),
        },
        Entry {
            log_id: log_id(2, 9),
            payload: EntryPayload::Normal(proposal),
        },
    ];
    let append = AppendEntriesRequest::<TypeConfig> {
        vote: Vote::new_committed(2, 1),
        prev_log_id: Some(log_id(2, 6)),
        entries: entries.clone(),
        leader_commit: Some(log_id(2, 6)),
    };
    write(
        "raft_message",
        "append-entries.pc",
        &postcard::to_stdvec(&append).expect("encode"),
    );
    let heartbeat = AppendEntriesRequest::<TypeConfig> {
        vote: Vote::new_committed(2, 1),
        prev_log_id: Some(log_id(2, 9)),
        entries: vec![],
        leader_commit: Some(log_id(2, 9)),
    };
    write(
        "raft_message",
        "heartbeat.pc",
        &postcard::to_stdvec(&heartbeat).expect("encode"),
    );
    let vote = VoteRequest::<u64> {
        vote: Vote::new(3, 2),
        last_log_id: Some(log_id(2, 9)),
    };
    write("raft_message", "vote.pc", &postcard::to_stdvec(&vote).expect("encode"));
    let install = InstallSnapshotRequest::<TypeConfig> {
        vote: Vote::new_committed(2, 1),
        meta: SnapshotMeta {
            last_log_id: Some(log_id(2, 9)),
            last_membership: StoredMembership::new(Some(log_id(2, 8)), membership),
            snapshot_id: "2-1-9-1".into(),
        },
        offset: 0,
        data: snapshot.clone(),
        done: true,
    };
    write(
        "raft_message",
        "install-snapshot.pc",
        &postcard::to_stdvec(&install).expect("encode"),
    );
    for entry in &entries {
        let index = entry.log_id.index;
        let mut binary = vec![0x01];
        binary.extend(postcard::to_stdvec(entry).expect("encode"));
        write("raft_message", &format!("entry-{index}.bin"), &binary);
    }
    // An entry in the older JSON form (still read from the log).
    let json = serde_json::to_vec(&entries[2]).expect("JSON");
    write("raft_message", "entry-9.json", &json);
}
