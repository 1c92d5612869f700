//! The test vectors of docs/PROTOCOL.md, read from the document itself, so
//! the document and the code cannot drift apart.

use std::collections::HashMap;

use prost::Message;
use tansiq_ledger::genesis::Genesis;
use tansiq_ledger::ids::{OrgId, PublicKeyBytes};
use tansiq_ledger::signing::{self, KeyPair};
use tansiq_proto::v1 as pb;

/// The `key: value` lines of the ```vectors block of docs/PROTOCOL.md.
fn vectors() -> HashMap<String, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md");
    let text = std::fs::read_to_string(path).expect("docs/PROTOCOL.md");
    let block = text
        .split("```vectors\n")
        .nth(1)
        .expect("a ```vectors block")
        .split("```")
        .next()
        .unwrap_or_default();
    block
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

/// The vector's event, built from the fields the document lists.
fn vector_body(public: &PublicKeyBytes) -> pb::EventBody {
    pb::EventBody {
        signer_key: public.0.to_vec(),
        author: "ministry".into(),
        sequence: 1,
        previous: vec![],
        created_at_ms: 1_767_225_600_000,
        kind: Some(pb::event_body::Kind::MunicipalityRegistered(
            pb::MunicipalityRegistered {
                pcode: "LY01".into(),
                admin_level: 1,
                parent_pcode: String::new(),
                country: "LY".into(),
                name: Some(pb::Names {
                    arabic: "نالوت".into(),
                    latin: "Nalut".into(),
                }),
                population: 0,
            },
        )),
    }
}

#[test]
fn protocol_document_vectors_hold() {
    let v = vectors();
    let get = |key: &str| {
        v.get(key)
            .unwrap_or_else(|| panic!("vector {key} missing from docs/PROTOCOL.md"))
            .clone()
    };
    let mut seed = [0u8; 32];
    hex::decode_to_slice(get("seed"), &mut seed).unwrap();
    let key = KeyPair::from_seed(seed);
    let genesis = Genesis::new_chain(
        &get("chain_name"),
        &OrgId::parse("ministry").unwrap(),
        pb::Names {
            arabic: String::new(),
            latin: "Ministry".into(),
        },
        &[key.public()],
        1_767_225_600_000,
    )
    .unwrap();
    let chain = genesis.chain.clone();
    // What the chain id's suffix hashes: domain, name, and the genesis
    // without its chain id (docs/PROTOCOL.md, section 5).
    let mut chain_id_hashed = b"tansiq/chain-id/v1\0".to_vec();
    chain_id_hashed.extend(get("chain_name").as_bytes());
    chain_id_hashed.push(0);
    chain_id_hashed.extend(
        pb::Genesis {
            chain_id: String::new(),
            ..genesis.message.clone()
        }
        .encode_to_vec(),
    );
    assert_eq!(
        &blake3::hash(&chain_id_hashed).to_hex()[..24],
        &chain.as_str()[get("chain_name").len() + 1..],
        "the chain id ends with the hash of what the protocol says"
    );
    let body = vector_body(&key.public()).encode_to_vec();
    let signed = signing::signed_bytes(&chain, &body);
    let (signature, id) = key.sign(&chain, &body);
    let head_1 = genesis.hash.next(&id);

    // Results and attestations (section 4a): a result a donor reports, and
    // a municipality's organisation's word on its delivery.
    let result_body = pb::EventBody {
        author: "donor".into(),
        kind: Some(pb::event_body::Kind::ResultReported(pb::ResultReported {
            project_id: "p-1".into(),
            result_id: "wells".into(),
            result_type: pb::ResultType::Output as i32,
            title: Some(pb::Names {
                arabic: String::new(),
                latin: "Wells".into(),
            }),
            indicator: Some(pb::Indicator {
                title: Some(pb::Names {
                    arabic: String::new(),
                    latin: "Wells".into(),
                }),
                measure: pb::IndicatorMeasure::Unit as i32,
                ascending: true,
                periods: vec![pb::IndicatorPeriod {
                    start: "2026-01-01".into(),
                    end: "2026-06-30".into(),
                    target: Some(pb::IndicatorValue {
                        value: "10".into(),
                        ..Default::default()
                    }),
                    actual: Some(pb::IndicatorValue {
                        value: "7".into(),
                        ..Default::default()
                    }),
                }],
                ..Default::default()
            }),
        })),
        ..vector_body(&key.public())
    }
    .encode_to_vec();
    let attestation_body = pb::EventBody {
        author: "council".into(),
        kind: Some(pb::event_body::Kind::AttestationMade(pb::AttestationMade {
            subject: Some(pb::attestation_made::Subject::ResultDelivered(
                pb::ResultPeriodRef {
                    project_id: "p-1".into(),
                    result_id: "wells".into(),
                    period_start: "2026-01-01".into(),
                },
            )),
            verdict: pb::AttestationVerdict::Partly as i32,
            note: "6 working".into(),
            value: "6".into(),
        })),
        ..vector_body(&key.public())
    }
    .encode_to_vec();
    let (result_signature, result_id) = key.sign(&chain, &result_body);
    let (attestation_signature, attestation_id) = key.sign(&chain, &attestation_body);

    let computed = [
        ("result_body", hex::encode(&result_body)),
        ("result_signature", hex::encode(result_signature)),
        ("result_event_id", result_id.to_hex()),
        ("attestation_body", hex::encode(&attestation_body)),
        ("attestation_signature", hex::encode(attestation_signature)),
        ("attestation_event_id", attestation_id.to_hex()),
        ("chain_id_hashed", hex::encode(&chain_id_hashed)),
        ("chain_id", chain.to_string()),
        ("public_key", key.public().to_hex()),
        ("body", hex::encode(&body)),
        ("signed_bytes", hex::encode(&signed)),
        ("signature", hex::encode(signature)),
        ("event_id", id.to_hex()),
        ("genesis", hex::encode(&genesis.bytes)),
        ("genesis_hash", genesis.hash.to_hex()),
        ("head_1", head_1.to_hex()),
    ];
    let report: String = computed
        .iter()
        .map(|(k, value)| format!("{k}: {value}\n"))
        .collect();
    for (name, value) in &computed {
        assert_eq!(
            v.get(*name),
            Some(value),
            "vector {name} differs or is missing; the code computes:\n{report}"
        );
    }
    assert!(signing::verify_signature(
        &key.public(),
        &signed,
        &signature
    ));
}
