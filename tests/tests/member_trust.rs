//! Trust between members, against the README's cluster shape with real
//! processes and development certificates: three ministry voters and one
//! donor-site learner (`--dev-role learner`). A donor site's certificate,
//! or a voter's certificate claiming another node's id, cannot send Raft
//! messages, install a snapshot or administer the cluster; a caller without
//! a certificate is refused before its message is read. Every refused
//! attack leaves the target's term, log and head as they were, and the
//! cluster keeps committing with equal heads.

// Test code: a panic with its location is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::{
    CommittedLeaderId, Entry, EntryPayload, LogId, SnapshotMeta, StoredMembership, Vote,
};
use prost::Message;
use tansiq_ledger::author::now_ms;
use tansiq_ledger::replication::TypeConfig;
use tansiq_node::cluster::wire::encode_message;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::cluster_client::ClusterClient;
use tansiq_proto::v1::event_body::Kind;
use tansiq_tests::{author, cli_command, events, stderr, Node};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// A certificate and key to call a node with.
struct Credential {
    cert: PathBuf,
    key: PathBuf,
}

impl Credential {
    fn node(data_dir: &Path) -> Credential {
        let tls = data_dir.join("tls");
        Credential {
            cert: tls.join("node.pem"),
            key: tls.join("node.key"),
        }
    }

    fn admin(ca_node_dir: &Path) -> Credential {
        let tls = ca_node_dir.join("tls");
        Credential {
            cert: tls.join("admin.pem"),
            key: tls.join("admin.key"),
        }
    }
}

/// A Cluster client of `node`, presenting `credential` (None: no certificate).
async fn cluster_client(node: &Node, credential: Option<&Credential>) -> ClusterClient<Channel> {
    let ca = std::fs::read(node.ca.as_ref().unwrap()).unwrap();
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
    if let Some(credential) = credential {
        tls = tls.identity(Identity::from_pem(
            std::fs::read(&credential.cert).unwrap(),
            std::fs::read(&credential.key).unwrap(),
        ));
    }
    let channel = Endpoint::from_shared(node.url.clone())
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    ClusterClient::new(channel)
        .max_decoding_message_size(64 * 1024 * 1024)
        .max_encoding_message_size(64 * 1024 * 1024)
}

/// `tansiq cluster ARGS` against `node` with `credential`.
/// `tansiq cluster ARGS` against `node` with `credential`, membership
/// changes signed with `ministry_key`.
fn cluster_cli(
    node: &Node,
    credential: &Credential,
    ministry_key: &Path,
    args: &[&str],
) -> std::process::Output {
    let mut command = cli_command(node, &[]);
    command
        .arg("--tls-cert")
        .arg(&credential.cert)
        .arg("--tls-key")
        .arg(&credential.key)
        .arg("cluster")
        .arg("--key")
        .arg(ministry_key)
        .args(args);
    command.output().unwrap()
}

async fn status(node: &Node, admin: &Credential) -> pb::ClusterStatus {
    cluster_client(node, Some(admin))
        .await
        .status(pb::ClusterStatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

/// Waits until every node has the same ledger head at `position` or beyond.
async fn converged(nodes: &[&Node], admin: &Credential, position: u64) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut statuses = Vec::new();
        for node in nodes {
            statuses.push(status(node, admin).await);
        }
        let heads_equal = statuses.windows(2).all(|pair| pair[0].head == pair[1].head);
        if heads_equal && statuses[0].position >= position {
            return statuses[0].head.clone();
        }
        assert!(
            Instant::now() < deadline,
            "heads did not converge: {:?}",
            statuses
                .iter()
                .map(|s| (s.node_id, s.position, hex::encode(&s.head)))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn seen_chain(node: &Node) -> String {
    node.client()
        .await
        .get_head(pb::GetHeadRequest {})
        .await
        .unwrap()
        .into_inner()
        .chain_id
}

fn payload<T: serde::Serialize>(message: &T) -> pb::RaftPayload {
    pb::RaftPayload {
        message: encode_message(message).unwrap(),
        ..Default::default()
    }
}

/// An AppendEntries as the leader would send it: the leader's vote,
/// `prev_log_id` at the target's last entry and one made-up entry after it.
fn forged_append(seen: &pb::ClusterStatus) -> pb::RaftPayload {
    let leader = CommittedLeaderId::new(seen.term, seen.leader_id);
    let last = LogId::new(leader, seen.last_log_index);
    let request: AppendEntriesRequest<TypeConfig> = AppendEntriesRequest {
        vote: Vote::new_committed(seen.term, seen.leader_id),
        prev_log_id: Some(last),
        entries: vec![Entry {
            log_id: LogId::new(leader, seen.last_log_index + 1),
            payload: EntryPayload::Blank,
        }],
        leader_commit: Some(last),
    };
    payload(&request)
}

fn forged_vote(seen: &pb::ClusterStatus, candidate: u64) -> pb::RaftPayload {
    let request = VoteRequest::new(
        Vote::new(seen.term + 5, candidate),
        Some(LogId::new(
            CommittedLeaderId::new(seen.term + 5, candidate),
            seen.last_log_index + 100,
        )),
    );
    payload(&request)
}

fn forged_snapshot(seen: &pb::ClusterStatus) -> pb::RaftPayload {
    let leader = CommittedLeaderId::new(seen.term, seen.leader_id);
    let request: InstallSnapshotRequest<TypeConfig> = InstallSnapshotRequest {
        vote: Vote::new_committed(seen.term, seen.leader_id),
        meta: SnapshotMeta {
            last_log_id: Some(LogId::new(leader, seen.last_log_index + 10)),
            last_membership: StoredMembership::default(),
            snapshot_id: "forged".into(),
        },
        offset: 0,
        data: Vec::new(),
        done: true,
    };
    let mut message = payload(&request);
    message.snapshot_chunk = b"not a snapshot".to_vec();
    message
}

/// What an attack must not change on its target.
fn unchanged(before: &pb::ClusterStatus, after: &pb::ClusterStatus, attack: &str) {
    assert_eq!(before.term, after.term, "{attack}: term");
    assert_eq!(before.leader_id, after.leader_id, "{attack}: leader");
    assert_eq!(before.position, after.position, "{attack}: position");
    assert_eq!(before.head, after.head, "{attack}: head");
    assert!(
        after.last_log_index <= before.last_log_index + 1,
        "{attack}: log grew from {} to {}",
        before.last_log_index,
        after.last_log_index
    );
}

/// Each node of a cluster status with its role and address.
fn roles(status: &pb::ClusterStatus) -> Vec<(u64, String, String)> {
    status
        .nodes
        .iter()
        .map(|node| (node.node_id, node.role.clone(), node.address.clone()))
        .collect()
}

fn code_of<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> tonic::Code {
    result.unwrap_err().code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_donor_site_certificate_cannot_lead_vote_install_or_administer() {
    let root = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = (1..=4)
        .map(|id| root.path().join(format!("node-{id}")))
        .collect();
    let ca = dirs[0].join("tls").join("ca.pem");
    let first = Node::start_tls(
        &dirs[0],
        &["--dev", "--node-id", "1", "--listen", "127.0.0.1:0"],
        &ca,
    );
    let genesis = dirs[0].join("genesis.json").display().to_string();
    let dev_ca = dirs[0].join("tls").display().to_string();
    let mut nodes = vec![first];
    for id in 2..=4u64 {
        let mut args = vec![
            "--node-id".to_owned(),
            id.to_string(),
            "--genesis".to_owned(),
            genesis.clone(),
            "--dev-ca".to_owned(),
            dev_ca.clone(),
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
        ];
        if id == 4 {
            args.extend(["--dev-role".to_owned(), "learner".to_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        nodes.push(Node::start_tls(&dirs[id as usize - 1], &args, &ca));
    }
    let admin = Credential::admin(&dirs[0]);
    let learner = Credential::node(&dirs[3]);
    let ministry_key = nodes[0].ministry_key();
    let members: Vec<String> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| format!("{}={}", i + 1, node.url))
        .collect();
    let init = [
        "init",
        "--member",
        &members[0],
        "--member",
        &members[1],
        "--member",
        &members[2],
    ];

    // Administration: node certificates (a voter's, a donor site's) are
    // refused; the administrator's certificate forms the cluster.
    for credential in [Credential::node(&dirs[0]), Credential::node(&dirs[3])] {
        let refused = cluster_cli(&nodes[0], &credential, &ministry_key, &init);
        assert!(!refused.status.success());
        assert!(
            stderr(&refused).contains("PermissionDenied")
                && stderr(&refused).contains("administrator"),
            "{}",
            stderr(&refused)
        );
    }
    let formed = cluster_cli(&nodes[0], &admin, &ministry_key, &init);
    assert!(formed.status.success(), "{}", stderr(&formed));
    // Every voter knows the leader and applied the first membership.
    for node in &nodes[..3] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let seen = status(node, &admin).await;
            if seen.has_leader && seen.applied_index >= 1 {
                break;
            }
            assert!(Instant::now() < deadline, "no leader: {seen:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Sent to any node, the CLI follows it to the leader.
    let added = cluster_cli(
        &nodes[2],
        &admin,
        &ministry_key,
        &["add-learner", &members[3]],
    );
    assert!(added.status.success(), "{}", stderr(&added));

    let mut client = nodes[0].client().await;
    let mut ministry = author(&mut client, &nodes[0].ministry_key()).await;
    let (event, _) = ministry.sign(events::municipality("LY0101", "", 2), now_ms());
    client
        .submit(pb::SubmitRequest { event: Some(event) })
        .await
        .unwrap();
    let all: Vec<&Node> = nodes.iter().collect();
    // Positions 1 and 2 are the authorisations of init and add-learner.
    converged(&all, &admin, 3).await;
    let seen = status(&nodes[0], &admin).await;
    let leader = seen.leader_id;
    assert!((1..=3).contains(&leader), "a voter leads: {seen:?}");
    let follower = (1..=3u64).find(|id| *id != leader).unwrap();
    let other_follower = (1..=3u64)
        .find(|id| *id != leader && *id != follower)
        .unwrap();
    let target = &nodes[follower as usize - 1];

    // The donor site's certificate, against a voter and against itself.
    for (name, victim) in [("voter", target), ("learner", &nodes[3])] {
        let before = status(victim, &admin).await;
        let mut attacker = cluster_client(victim, Some(&learner)).await;
        let append = attacker.append_entries(forged_append(&before)).await;
        assert_eq!(code_of(append), tonic::Code::PermissionDenied, "{name}");
        let vote = attacker.vote(forged_vote(&before, 4)).await;
        assert_eq!(code_of(vote), tonic::Code::PermissionDenied, "{name}");
        let snapshot = attacker.install_snapshot(forged_snapshot(&before)).await;
        assert_eq!(code_of(snapshot), tonic::Code::PermissionDenied, "{name}");
        let voters = attacker
            .change_voters(pb::ChangeVotersRequest {
                voters: vec![4],
                authorisation: None,
            })
            .await;
        assert_eq!(code_of(voters), tonic::Code::PermissionDenied, "{name}");
        let add = attacker
            .add_learner(pb::AddLearnerRequest {
                member: Some(pb::ClusterMember {
                    node_id: 9,
                    address: "https://127.0.0.1:1".into(),
                }),
                authorisation: None,
            })
            .await;
        assert_eq!(code_of(add), tonic::Code::PermissionDenied, "{name}");
        // Reads of the cluster's state stay open to its nodes.
        attacker
            .status(pb::ClusterStatusRequest {})
            .await
            .expect("a node may read the cluster's status");
        unchanged(&before, &status(victim, &admin).await, name);
    }

    // A voter's certificate claiming to be another voter (the leader, or a
    // candidate it is not).
    let impostor = Credential::node(&dirs[other_follower as usize - 1]);
    let before = status(target, &admin).await;
    let mut attacker = cluster_client(target, Some(&impostor)).await;
    let append = attacker.append_entries(forged_append(&before)).await;
    let refused = append.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    assert!(
        refused.message().contains(&format!("node {leader}")),
        "{}",
        refused.message()
    );
    let vote = attacker.vote(forged_vote(&before, leader)).await;
    assert_eq!(code_of(vote), tonic::Code::PermissionDenied);
    let snapshot = attacker.install_snapshot(forged_snapshot(&before)).await;
    assert_eq!(code_of(snapshot), tonic::Code::PermissionDenied);
    unchanged(&before, &status(target, &admin).await, "impostor voter");

    // Without a certificate: refused before the message is read, however
    // large it says it is (a decoded 20 MiB message would be refused for
    // its size, not for its caller).
    let mut anonymous = cluster_client(target, None).await;
    let mut huge = forged_append(&before);
    huge.snapshot_chunk = vec![7; 20 * 1024 * 1024];
    let denied = anonymous.append_entries(huge).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::Unauthenticated, "{denied:?}");
    let status_denied = anonymous.status(pb::ClusterStatusRequest {}).await;
    assert_eq!(code_of(status_denied), tonic::Code::Unauthenticated);

    // A request signed by a key nobody registered never enters the Raft
    // log: the leader refuses it before proposing (finding 6).
    let leader_node = &nodes[leader as usize - 1];
    let before = status(leader_node, &admin).await;
    let chain = tansiq_ledger::signing::ChainId::parse(&seen_chain(leader_node).await).unwrap();
    let mut stranger = tansiq_ledger::author::Author::new(
        chain,
        tansiq_ledger::ids::OrgId::parse("stranger").unwrap(),
        tansiq_ledger::signing::KeyPair::generate(),
        0,
        None,
    );
    let junk: Vec<pb::SignedEvent> = (0..200)
        .map(|i| {
            stranger
                .sign(events::municipality(&format!("LY9{i:03}"), "", 2), now_ms())
                .0
        })
        .collect();
    let refused = leader_node
        .client()
        .await
        .submit_batch(pb::SubmitBatchRequest { events: junk })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    let after = status(leader_node, &admin).await;
    assert_eq!(
        after.last_log_index, before.last_log_index,
        "an unregistered key's request reached the Raft log"
    );

    // The cluster goes on: a new event commits and all four heads agree.
    let (event, _) = ministry.sign(events::municipality("LY0102", "", 2), now_ms());
    let mut client = target.client().await;
    client
        .submit(pb::SubmitRequest { event: Some(event) })
        .await
        .unwrap();
    converged(&all, &admin, 4).await;
    let after = status(&nodes[0], &admin).await;
    assert_eq!(after.leader_id, leader, "no election was forced");
    assert_eq!(after.term, seen.term, "no term was bumped");
    assert_eq!(after.refused_at_apply, 0);

    membership_changes_are_on_the_ledger(leader_node, &admin, &mut ministry).await;
}

/// Finding 3: every membership change is written to the ledger, signed by
/// the ministry, before it is made; the administrator's certificate alone,
/// an authorisation by anyone but the ministry, one for another change and
/// a used one change nothing.
async fn membership_changes_are_on_the_ledger(
    leader: &Node,
    admin: &Credential,
    ministry: &mut tansiq_ledger::author::Author,
) {
    // The cluster's init and the learner's addition are the ledger's first
    // two events, the ministry's, naming the change.
    let mut client = leader.client().await;
    let mut log = client
        .subscribe(pb::SubscribeRequest { from_position: 1 })
        .await
        .unwrap()
        .into_inner();
    let mut recorded = Vec::new();
    while recorded.len() < 2 {
        let entry = log.message().await.unwrap().expect("the log goes on");
        let signed = entry.event.expect("an event");
        let body = pb::EventBody::decode(signed.body.as_slice()).unwrap();
        recorded.push((signed, body));
    }
    drop(log);
    let changes: Vec<(String, i32, Vec<u64>)> = recorded
        .iter()
        .map(|(_, body)| match &body.kind {
            Some(Kind::MembershipChangeAuthorised(change)) => (
                body.author.clone(),
                change.change,
                change.members.iter().map(|m| m.node_id).collect(),
            ),
            other => panic!("not a membership change: {other:?}"),
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            (
                "ministry".to_owned(),
                pb::MembershipChange::Init as i32,
                vec![1, 2, 3]
            ),
            (
                "ministry".to_owned(),
                pb::MembershipChange::AddLearner as i32,
                vec![4]
            ),
        ]
    );

    let learner_9 = pb::ClusterMember {
        node_id: 9,
        address: "https://127.0.0.1:1".into(),
    };
    let add_9 = |authorisation: Option<pb::SignedEvent>| pb::AddLearnerRequest {
        member: Some(learner_9.clone()),
        authorisation,
    };
    let authorising = |members: Vec<pb::ClusterMember>| {
        Kind::MembershipChangeAuthorised(pb::MembershipChangeAuthorised {
            change: pb::MembershipChange::AddLearner as i32,
            members,
        })
    };
    // A donor the ministry registered, to sign what only the ministry may.
    let donor_key = tansiq_ledger::signing::KeyPair::generate();
    let (registration, _) = ministry.sign(events::register_donor("donor-z", &donor_key), now_ms());
    client
        .submit(pb::SubmitRequest {
            event: Some(registration),
        })
        .await
        .unwrap();
    let chain = tansiq_ledger::signing::ChainId::parse(&seen_chain(leader).await).unwrap();
    let mut donor = tansiq_ledger::author::Author::new(
        chain,
        tansiq_ledger::ids::OrgId::parse("donor-z").unwrap(),
        donor_key,
        0,
        None,
    );

    let mut cluster = cluster_client(leader, Some(admin)).await;
    let before = status(leader, admin).await;
    let attempts = [
        (
            "the administrator's certificate alone",
            add_9(None),
            tonic::Code::PermissionDenied,
            "signed authorisation",
        ),
        (
            "a donor's authorisation",
            add_9(Some(
                donor.sign(authorising(vec![learner_9.clone()]), now_ms()).0,
            )),
            tonic::Code::PermissionDenied,
            "authorise cluster membership changes",
        ),
        (
            "the ministry's authorisation of another node",
            add_9(Some(
                ministry
                    .sign(
                        authorising(vec![pb::ClusterMember {
                            node_id: 8,
                            ..learner_9.clone()
                        }]),
                        now_ms(),
                    )
                    .0,
            )),
            tonic::Code::InvalidArgument,
            "8=https://127.0.0.1:1",
        ),
    ];
    for (what, request, code, says) in attempts {
        let refused = cluster.add_learner(request).await.unwrap_err();
        assert_eq!(refused.code(), code, "{what}: {refused:?}");
        assert!(
            refused.message().contains(says),
            "{what}: {}",
            refused.message()
        );
        let after = status(leader, admin).await;
        assert_eq!(
            roles(&after),
            roles(&before),
            "{what} changed the membership"
        );
        assert_eq!(
            after.position, before.position,
            "{what} wrote to the ledger"
        );
        assert_eq!(
            after.last_log_index, before.last_log_index,
            "{what} reached the Raft log"
        );
    }
    // The ministry's own authorisation of node 4's addition, replayed.
    let Some(Kind::MembershipChangeAuthorised(change)) = &recorded[1].1.kind else {
        unreachable!("checked above")
    };
    let replay = pb::AddLearnerRequest {
        member: Some(change.members[0].clone()),
        authorisation: Some(recorded[1].0.clone()),
    };
    let refused = cluster.add_learner(replay).await.unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    assert!(
        refused.message().contains("already on the ledger"),
        "{}",
        refused.message()
    );
    let after = status(leader, admin).await;
    assert_eq!(
        roles(&after),
        roles(&before),
        "a replay changed the membership"
    );
    assert_eq!(
        after.position, before.position,
        "a replay wrote to the ledger"
    );
}

#[test]
fn a_member_whose_certificate_names_another_node_does_not_start() {
    let root = tempfile::tempdir().unwrap();
    let first = Node::start_tls(
        &root.path().join("node-1"),
        &["--dev", "--node-id", "1", "--listen", "127.0.0.1:0"],
        &root.path().join("node-1").join("tls").join("ca.pem"),
    );
    drop(first);
    // Node 1's certificate offered as node 2's.
    let tls = root.path().join("node-1").join("tls");
    let output = std::process::Command::new(tansiq_tests::binary("tansiq-node"))
        .arg("--data-dir")
        .arg(root.path().join("node-2"))
        .arg("--genesis")
        .arg(root.path().join("node-1").join("genesis.json"))
        .args(["--node-id", "2", "--listen", "127.0.0.1:0"])
        .arg("--tls-cert")
        .arg(tls.join("node.pem"))
        .arg("--tls-key")
        .arg(tls.join("node.key"))
        .arg("--tls-ca")
        .arg(tls.join("ca.pem"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("names voter node 1")
            && message.contains("tansiq://tansiq-dev-")
            && message.contains("/voter/2"),
        "{message}"
    );
}
