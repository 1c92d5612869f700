//! Every way an event can be wrong is refused by a real node with its gRPC
//! code and reason, and leaves the ledger unchanged.
// Test code: a panic with its location is the failure report.
#![allow(clippy::unwrap_used)]

use tansiq_tests::events;

use prost::Message;
use tansiq_ledger::author::{now_ms, Author, KeyFile};
use tansiq_ledger::ids::{EventId, OrgId};
use tansiq_ledger::signing::KeyPair;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::event_body::Kind;
use tansiq_proto::v1::ledger_client::LedgerClient;
use tansiq_tests::{author, head, Node};
use tonic::transport::Channel;
use tonic::Code;

type Client = LedgerClient<Channel>;

async fn submit(client: &mut Client, event: pb::SignedEvent) -> Result<pb::Receipt, tonic::Status> {
    client
        .submit(pb::SubmitRequest { event: Some(event) })
        .await
        .map(tonic::Response::into_inner)
}

/// Submits `event`, asserts it is refused with `code` and `reason`, and that the head did not move.
async fn assert_refused(
    client: &mut Client,
    event: pb::SignedEvent,
    code: Code,
    reason: &str,
) -> String {
    let before = head(client).await;
    let status = submit(client, event)
        .await
        .expect_err("the event must be refused");
    assert_eq!(status.code(), code, "{}", status.message());
    let got_reason = status
        .metadata()
        .get("tansiq-reason")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(got_reason.as_deref(), Some(reason), "{}", status.message());
    assert_eq!(
        head(client).await,
        before,
        "a refused event changed the ledger"
    );
    status.message().to_owned()
}

fn key_file(dir: &std::path::Path, org: &str) -> (std::path::PathBuf, KeyPair) {
    let key = KeyPair::generate();
    let path = dir.join(format!("{org}.key"));
    KeyFile::new(&OrgId::parse(org).unwrap(), &key, "TEST KEY")
        .write(&path)
        .unwrap();
    (path, KeyPair::from_seed(key.seed()))
}

async fn accept(client: &mut Client, author: &mut Author, kind: Kind) -> pb::Receipt {
    let (event, _) = author.sign(kind, now_ms());
    submit(client, event).await.expect("accepted")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_event_is_refused_with_its_status_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"));
    let mut client = node.client().await;
    let mut ministry = author(&mut client, &node.ministry_key()).await;
    let (alpha_file, alpha_key) = key_file(dir.path(), "alpha");
    let (beta_file, beta_key) = key_file(dir.path(), "beta");
    let (gamma_file, gamma_key) = key_file(dir.path(), "gamma");
    accept(
        &mut client,
        &mut ministry,
        events::register_donor("alpha", &alpha_key),
    )
    .await;
    accept(
        &mut client,
        &mut ministry,
        events::register_donor("beta", &beta_key),
    )
    .await;
    accept(
        &mut client,
        &mut ministry,
        events::register_donor("gamma", &gamma_key),
    )
    .await;
    accept(
        &mut client,
        &mut ministry,
        events::municipality("LY01", "", 1),
    )
    .await;
    accept(
        &mut client,
        &mut ministry,
        events::municipality("LY0101", "LY01", 2),
    )
    .await;
    let mut alpha = author(&mut client, &alpha_file).await;
    let first = accept(
        &mut client,
        &mut alpha,
        events::project(
            "alpha-water",
            events::details("LY0101", "14030", "USD", "100000"),
        ),
    )
    .await;
    assert_eq!(first.position, 6);

    // Malformed bytes.
    let garbage = pb::SignedEvent {
        body: vec![0xff; 40],
        signature: vec![0; 64],
    };
    assert_refused(&mut client, garbage, Code::InvalidArgument, "malformed").await;
    let short_signature = pb::SignedEvent {
        body: vec![],
        signature: vec![0; 10],
    };
    assert_refused(
        &mut client,
        short_signature,
        Code::InvalidArgument,
        "malformed",
    )
    .await;

    // Oversized.
    let mut alpha = author(&mut client, &alpha_file).await;
    let mut big = events::details("LY0101", "14030", "USD", "1");
    big.description = events::names(&"x".repeat(8000), &"ي".repeat(4000));
    big.participants = (0..200)
        .map(|i| pb::ParticipatingOrg {
            org_id: String::new(),
            iati_identifier: format!("ID-{i}"),
            name: events::names(&"n".repeat(500), ""),
            role: 4,
        })
        .collect();
    let (event, _) = alpha.sign(events::project("alpha-big", big), now_ms());
    let message = assert_refused(&mut client, event, Code::InvalidArgument, "too_large").await;
    assert!(message.contains("65536"), "{message}");

    // Unknown body type: a field number this node does not know.
    let alpha = author(&mut client, &alpha_file).await;
    let mut body = alpha.next_body(Kind::ProjectClosed(Default::default()), now_ms());
    body.kind = None;
    let mut bytes = body.encode_to_vec();
    bytes.extend_from_slice(&[0xfa, 0x06, 0x02, 0x08, 0x01]); // field 111, length-delimited, 2 bytes
    let (event, _) = {
        let mut a = alpha;
        a.sign_body(bytes)
    };
    assert_refused(
        &mut client,
        event,
        Code::InvalidArgument,
        "unknown_body_type",
    )
    .await;

    // Bad signature.
    let mut alpha = author(&mut client, &alpha_file).await;
    let (mut event, _) = alpha.sign(
        Kind::ProjectStatusChanged(pb::ProjectStatusChanged {
            project_id: "alpha-water".into(),
            status: 3,
            effective_date: "2026-05-01".into(),
        }),
        now_ms(),
    );
    event.signature[10] ^= 0x01;
    assert_refused(&mut client, event, Code::Unauthenticated, "bad_signature").await;

    // Signed for another chain: the prefix differs, so the signature does not verify.
    let mut foreign = Author::new(
        tansiq_ledger::signing::ChainId::parse("other-chain").unwrap(),
        OrgId::parse("alpha").unwrap(),
        KeyPair::from_seed(alpha_key.seed()),
        1,
        Some(EventId::from_slice(&first.event_id).unwrap()),
    );
    let (event, _) = foreign.sign(
        Kind::ProjectStatusChanged(pb::ProjectStatusChanged {
            project_id: "alpha-water".into(),
            status: 3,
            effective_date: "2026-05-01".into(),
        }),
        now_ms(),
    );
    assert_refused(&mut client, event, Code::Unauthenticated, "bad_signature").await;

    // Unknown key.
    let stranger_key = KeyPair::generate();
    let chain = tansiq_ledger::signing::ChainId::parse(&head(&mut client).await.chain_id).unwrap();
    let mut stranger = Author::new(
        chain.clone(),
        OrgId::parse("alpha").unwrap(),
        stranger_key,
        0,
        None,
    );
    let (event, _) = stranger.sign(
        events::project("stranger-1", events::details("LY0101", "14030", "USD", "1")),
        now_ms(),
    );
    assert_refused(&mut client, event, Code::Unauthenticated, "unknown_key").await;

    // Author mismatch: beta's key claiming to be alpha.
    let mut impostor = Author::new(
        chain.clone(),
        OrgId::parse("alpha").unwrap(),
        KeyPair::from_seed(beta_key.seed()),
        0,
        None,
    );
    let (event, _) = impostor.sign(
        events::project(
            "beta-as-alpha",
            events::details("LY0101", "14030", "USD", "1"),
        ),
        now_ms(),
    );
    assert_refused(
        &mut client,
        event,
        Code::PermissionDenied,
        "author_mismatch",
    )
    .await;

    // Sequence gap and wrong previous hash.
    let alpha_head = client
        .get_key_head(pb::GetKeyHeadRequest {
            public_key: alpha_key.public().0.to_vec(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(alpha_head.sequence, 1);
    let last = EventId::from_slice(&alpha_head.last_event_id).unwrap();
    let mut skipping = Author::new(
        chain.clone(),
        OrgId::parse("alpha").unwrap(),
        KeyPair::from_seed(alpha_key.seed()),
        2,
        Some(last),
    );
    let (event, _) = skipping.sign(
        events::project("alpha-2", events::details("LY0101", "14030", "USD", "1")),
        now_ms(),
    );
    let message =
        assert_refused(&mut client, event, Code::FailedPrecondition, "sequence_gap").await;
    assert!(message.contains("expected sequence 2, got 3"), "{message}");
    let mut misled = Author::new(
        chain.clone(),
        OrgId::parse("alpha").unwrap(),
        KeyPair::from_seed(alpha_key.seed()),
        1,
        Some(EventId([9; 32])),
    );
    let (event, _) = misled.sign(
        events::project("alpha-2", events::details("LY0101", "14030", "USD", "1")),
        now_ms(),
    );
    assert_refused(
        &mut client,
        event,
        Code::FailedPrecondition,
        "wrong_previous",
    )
    .await;

    // Equivocation: two different events at one key's sequence 2.
    let mut honest = author(&mut client, &alpha_file).await;
    let mut twin = author(&mut client, &alpha_file).await;
    accept(
        &mut client,
        &mut honest,
        events::project("alpha-2", events::details("LY0101", "14030", "USD", "1")),
    )
    .await;
    let (event, conflicting_id) = twin.sign(
        events::project("alpha-3", events::details("LY0101", "14030", "USD", "1")),
        now_ms(),
    );
    let message = assert_refused(&mut client, event, Code::AlreadyExists, "equivocation").await;
    assert!(message.contains(&conflicting_id.to_hex()), "{message}");

    // Roles: a donor may not register municipalities, nor write another donor's project.
    let mut beta = author(&mut client, &beta_file).await;
    let (event, _) = beta.sign(events::municipality("LY0102", "LY01", 2), now_ms());
    assert_refused(&mut client, event, Code::PermissionDenied, "not_allowed").await;
    let mut beta = author(&mut client, &beta_file).await;
    let (event, _) = beta.sign(
        Kind::ProjectUpdated(pb::ProjectUpdated {
            project_id: "alpha-water".into(),
            details: Some(events::details("LY0101", "14030", "USD", "5")),
        }),
        now_ms(),
    );
    let message = assert_refused(&mut client, event, Code::PermissionDenied, "not_allowed").await;
    assert!(message.contains("belongs to alpha"), "{message}");

    // Field errors: date, currency, negative amount, sector, P-code.
    let field_cases = [
        (events::details("LY0101", "14030", "XXQ", "1"), "ISO 4217"),
        (
            events::details("LY0101", "14030", "USD", "-5"),
            "negative amount",
        ),
        (
            events::details("LY0101", "99999", "USD", "1"),
            "IATI Sector",
        ),
        (
            events::details("ly-0101", "14030", "USD", "1"),
            "not a P-code",
        ),
        (
            pb::ProjectDetails {
                planned_start: "2026-02-30".into(),
                ..events::details("LY0101", "14030", "USD", "1")
            },
            "not a date",
        ),
    ];
    for (details, expected) in field_cases {
        let mut beta = author(&mut client, &beta_file).await;
        let (event, _) = beta.sign(events::project("beta-1", details), now_ms());
        let message =
            assert_refused(&mut client, event, Code::InvalidArgument, "invalid_field").await;
        assert!(
            message.contains(expected),
            "{message} should mention {expected}"
        );
    }
    let mut beta = author(&mut client, &beta_file).await;
    let (event, _) = beta.sign(
        events::project("beta-1", events::details("LY9999", "14030", "USD", "1")),
        now_ms(),
    );
    assert_refused(
        &mut client,
        event,
        Code::FailedPrecondition,
        "unknown_reference",
    )
    .await;

    // Revoked key: gamma's key revoked by the ministry writes nothing after.
    accept(
        &mut client,
        &mut ministry,
        Kind::KeyRevoked(pb::KeyRevoked {
            org_id: "gamma".into(),
            key: gamma_key.public().0.to_vec(),
            reason: "laptop stolen".into(),
        }),
    )
    .await;
    let mut gamma = author(&mut client, &gamma_file).await;
    let (event, _) = gamma.sign(
        events::project("gamma-1", events::details("LY0101", "14030", "USD", "1")),
        now_ms(),
    );
    assert_refused(&mut client, event, Code::PermissionDenied, "revoked_key").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_return_the_first_receipt_and_batches_are_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"));
    let mut client = node.client().await;
    let mut ministry = author(&mut client, &node.ministry_key()).await;
    let (event, id) = ministry.sign(events::municipality("LY01", "", 1), now_ms());
    let first = submit(&mut client, event.clone()).await.unwrap();
    assert!(!first.duplicate);
    assert_eq!(first.event_id, id.0.to_vec());
    let before = head(&mut client).await;
    let again = submit(&mut client, event).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(
        (again.position, &again.head, again.committed_at_ms),
        (first.position, &first.head, first.committed_at_ms)
    );
    assert_eq!(head(&mut client).await, before, "a retry wrote something");

    // A batch whose second event is invalid commits nothing, the first included.
    let (good, good_id) = ministry.sign(events::municipality("LY0101", "LY01", 2), now_ms());
    let (bad, _) = ministry.sign(events::municipality("LY0102", "LY77", 2), now_ms());
    let status = client
        .submit_batch(pb::SubmitBatchRequest {
            events: vec![good, bad],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("event[1]: parent_pcode"),
        "{}",
        status.message()
    );
    assert_eq!(head(&mut client).await, before);
    let missing = client
        .get_event(pb::GetEventRequest {
            event_id: good_id.0.to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

/// The ministry cannot lock itself out: its last active key cannot be
/// revoked; after adding a key it can revoke the old one, and signs on with
/// the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ministry_cannot_revoke_its_last_active_key() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"));
    let mut client = node.client().await;
    let (_, ministry_key) = KeyFile::read(&node.ministry_key()).unwrap();
    let mut ministry = author(&mut client, &node.ministry_key()).await;
    let before = head(&mut client).await;
    let (event, _) = ministry.sign(
        Kind::KeyRevoked(pb::KeyRevoked {
            org_id: "ministry".into(),
            key: ministry_key.public().0.to_vec(),
            reason: "mistake".into(),
        }),
        now_ms(),
    );
    let message = assert_refused(&mut client, event, Code::InvalidArgument, "invalid_field").await;
    assert!(message.contains("last active key"), "{message}");
    assert_eq!(
        head(&mut client).await,
        before,
        "a refused revocation wrote something"
    );

    // With a second key registered first, the old one can go.
    let second = KeyPair::generate();
    let mut ministry = author(&mut client, &node.ministry_key()).await;
    accept(
        &mut client,
        &mut ministry,
        Kind::KeyRotated(pb::KeyRotated {
            org_id: "ministry".into(),
            new_key: second.public().0.to_vec(),
            retired_key: Vec::new(),
        }),
    )
    .await;
    accept(
        &mut client,
        &mut ministry,
        Kind::KeyRevoked(pb::KeyRevoked {
            org_id: "ministry".into(),
            key: ministry_key.public().0.to_vec(),
            reason: "moved to a hardware key".into(),
        }),
    )
    .await;
    let second_file = dir.path().join("second.key");
    KeyFile::new(&OrgId::parse("ministry").unwrap(), &second, "test key")
        .write(&second_file)
        .unwrap();
    let mut second_author = author(&mut client, &second_file).await;
    accept(
        &mut client,
        &mut second_author,
        events::municipality("LY01", "", 1),
    )
    .await;
}

/// Two dev ledgers never share a chain id, so an event one of them accepts
/// is refused by the other, even when the same organisation holds the same
/// key on both (the chain id is part of what every signature covers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_of_one_ledger_is_refused_by_another() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (
        Node::start(&dir.path().join("a")),
        Node::start(&dir.path().join("b")),
    );
    let (mut client_a, mut client_b) = (first.client().await, second.client().await);
    let (chain_a, chain_b) = (
        head(&mut client_a).await.chain_id,
        head(&mut client_b).await.chain_id,
    );
    assert_ne!(chain_a, chain_b, "two dev ledgers share a chain id");
    let (donor_file, donor_key) = key_file(dir.path(), "alpha");
    for (node, client) in [(&first, &mut client_a), (&second, &mut client_b)] {
        let mut ministry = author(client, &node.ministry_key()).await;
        accept(
            client,
            &mut ministry,
            events::register_donor("alpha", &donor_key),
        )
        .await;
        accept(client, &mut ministry, events::municipality("LY01", "", 1)).await;
    }
    let mut alpha = author(&mut client_a, &donor_file).await;
    let (event, _) = alpha.sign(
        events::project("alpha-1", events::details("LY01", "14030", "USD", "1")),
        now_ms(),
    );
    submit(&mut client_a, event.clone())
        .await
        .expect("accepted on its own ledger");
    assert_refused(&mut client_b, event, Code::Unauthenticated, "bad_signature").await;
}

/// Bytes sent as-is, for a request that is not a protobuf message at all.
#[derive(Clone, Copy, Default)]
struct RawBytes;

impl tonic::codec::Codec for RawBytes {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawBytes;
    type Decoder = RawBytes;
    fn encoder(&mut self) -> RawBytes {
        RawBytes
    }
    fn decoder(&mut self) -> RawBytes {
        RawBytes
    }
}

impl tonic::codec::Encoder for RawBytes {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        destination: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(destination, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawBytes {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        source: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        let remaining = bytes::Buf::remaining(source);
        Ok(Some(bytes::Buf::copy_to_bytes(source, remaining).to_vec()))
    }
}

/// A request that does not decode is the caller's error (INVALID_ARGUMENT,
/// saying why), not the node's (INTERNAL), and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_request_is_invalid_argument() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"));
    let before = head(&mut node.client().await).await;
    let mut grpc = tonic::client::Grpc::new(node.channel().await);
    grpc.ready().await.unwrap();
    let refused = grpc
        .unary::<Vec<u8>, Vec<u8>, _>(
            tonic::Request::new(vec![0xff; 16]),
            "/tansiq.v1.Ledger/Submit".parse().unwrap(),
            RawBytes,
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("decode"), "{refused:?}");
    assert_eq!(head(&mut node.client().await).await, before);
}

/// Finding 7 of the trust issue: log subscribers that never read held
/// ~96 MB each. Now each buffers a bounded number of entries, at most 256
/// run at once, and the next is refused with RESOURCE_EXHAUSTED while a
/// bystander keeps being served; once they go, subscribing works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_that_never_read_are_bounded_and_a_bystander_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path());
    let mut client = node.client().await;
    let mut ministry = author(&mut client, &node.ministry_key()).await;
    // A log worth subscribing to: 2,000 events in two batches.
    for batch in 0..2 {
        let events = (0..1000)
            .map(|n| {
                let pcode = format!("LY{:04}", batch * 1000 + n);
                ministry
                    .sign(events::municipality(&pcode, "", 1), now_ms())
                    .0
            })
            .collect();
        client
            .submit_batch(pb::SubmitBatchRequest { events })
            .await
            .unwrap();
    }
    // 256 subscriptions from position 1 over three connections, never read.
    let mut connections = Vec::new();
    for _ in 0..3 {
        connections.push(node.client().await);
    }
    let mut held = Vec::new();
    for n in 0..256 {
        let stream = connections[n % 3]
            .subscribe(pb::SubscribeRequest { from_position: 1 })
            .await
            .unwrap_or_else(|status| panic!("subscription {n}: {status:?}"))
            .into_inner();
        held.push(stream);
    }
    let refused = connections[0]
        .subscribe(pb::SubscribeRequest { from_position: 1 })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("subscriptions"),
        "{}",
        refused.message()
    );
    // A bystander reads and writes meanwhile.
    let mut bystander = node.client().await;
    assert_eq!(head(&mut bystander).await.position, 2000);
    let (event, _) = ministry.sign(events::municipality("LY9999", "", 1), now_ms());
    submit(&mut bystander, event)
        .await
        .expect("a bystander's write");
    // The subscribers go; a new subscription is served again (the node
    // notices the closed streams as they are reset).
    drop(held);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match bystander
            .subscribe(pb::SubscribeRequest {
                from_position: 2001,
            })
            .await
        {
            Ok(stream) => {
                let first = stream.into_inner().message().await.unwrap().unwrap();
                assert_eq!(first.position, 2001);
                break;
            }
            Err(status) if status.code() == Code::ResourceExhausted => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "subscriptions were not released: {status:?}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(status) => panic!("{status:?}"),
        }
    }
}
