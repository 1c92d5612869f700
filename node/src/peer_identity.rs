//! Who calls the `tansiq.v1.Cluster` service, and what each caller may do.
//!
//! Every certificate the cluster's CA issues names one identity in a URI
//! subject alternative name:
//!
//! | URI                              | holder                          | may call                               |
//! |----------------------------------|---------------------------------|----------------------------------------|
//! | `tansiq://CHAIN/voter/ID`        | a ministry node (Raft voter)    | AppendEntries, Vote, InstallSnapshot as node ID; ReadIndex; Status |
//! | `tansiq://CHAIN/learner/ID`      | a donor site's node (learner)   | ReadIndex; Status                      |
//! | `tansiq://CHAIN/admin/NAME`      | a cluster administrator         | Init, AddLearner, ChangeVoters; Status |
//!
//! `CHAIN` is the ledger's chain id: a certificate of another cluster is
//! refused even when the same CA signed it. The [`ClusterGate`] decides from
//! the method's path and the caller's certificate *before* the request body
//! is read or decoded, so a caller without the right certificate cannot make
//! a node buffer anything; a Raft message is then accepted only when the
//! node it claims to come from (the leader of an AppendEntries or
//! InstallSnapshot, the candidate of a Vote) is the node the certificate
//! names ([`claimed_node_matches`]).
//!
//! With `--plaintext` (loopback only, for local tests) there are no
//! certificates and the gate lets every call through.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tansiq_ledger::signing::ChainId;
use tonic::body::Body;
use tonic::codegen::{http, BoxFuture, Service};
use tonic::server::NamedService;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::{Request, Status};

/// The URI scheme of a Tansiq identity in a certificate.
const SCHEME: &str = "tansiq://";

/// What a certificate's holder is in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A ministry node: may lead and vote.
    Voter,
    /// A donor site's node: replicates, never leads or votes.
    Learner,
    /// A person or system administering the cluster; not a node.
    Admin,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Voter => "voter",
            Role::Learner => "learner",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "voter" => Some(Role::Voter),
            "learner" => Some(Role::Learner),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// The identity a certificate names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    pub chain: String,
    pub role: Role,
    /// The node id (voter, learner) or the administrator's name.
    pub name: String,
}

impl PeerIdentity {
    pub fn node(chain: &ChainId, role: Role, node_id: u64) -> PeerIdentity {
        PeerIdentity {
            chain: chain.to_string(),
            role,
            name: node_id.to_string(),
        }
    }

    pub fn admin(chain: &ChainId, name: &str) -> PeerIdentity {
        PeerIdentity {
            chain: chain.to_string(),
            role: Role::Admin,
            name: name.to_owned(),
        }
    }

    /// The URI written into a certificate's subject alternative names.
    pub fn uri(&self) -> String {
        format!(
            "{SCHEME}{}/{}/{}",
            self.chain,
            self.role.as_str(),
            self.name
        )
    }

    /// Reads `tansiq://CHAIN/ROLE/NAME`; None for any other URI.
    pub fn from_uri(uri: &str) -> Option<PeerIdentity> {
        let rest = uri.strip_prefix(SCHEME)?;
        let mut parts = rest.split('/');
        let (chain, role, name) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || ChainId::parse(chain).is_err() {
            return None;
        }
        let role = Role::parse(role)?;
        let name_ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok || (role != Role::Admin && name.parse::<u64>().is_err()) {
            return None;
        }
        Some(PeerIdentity {
            chain: chain.to_owned(),
            role,
            name: name.to_owned(),
        })
    }

    /// The Tansiq identity in a DER certificate, if it names exactly one.
    pub fn from_certificate(der: &[u8]) -> Result<PeerIdentity, String> {
        let (_, certificate) = x509_parser::parse_x509_certificate(der)
            .map_err(|error| format!("the certificate cannot be read: {error}"))?;
        let names = certificate.subject_alternative_name().map_err(|error| {
            format!("the certificate's alternative names cannot be read: {error}")
        })?;
        let mut found = names
            .into_iter()
            .flat_map(|extension| extension.value.general_names.iter())
            .filter_map(|name| match name {
                x509_parser::extensions::GeneralName::URI(uri) if uri.starts_with(SCHEME) => {
                    Some(*uri)
                }
                _ => None,
            });
        let (Some(uri), None) = (found.next(), found.next()) else {
            return Err(format!(
                "the certificate must name exactly one Tansiq identity ({SCHEME}CHAIN/voter|learner/NODE-ID or {SCHEME}CHAIN/admin/NAME) in its subject alternative names"
            ));
        };
        PeerIdentity::from_uri(uri).ok_or_else(|| {
            format!("{uri:?} is not a Tansiq identity ({SCHEME}CHAIN/voter|learner/NODE-ID or {SCHEME}CHAIN/admin/NAME)")
        })
    }

    /// The node id, for a voter or a learner.
    pub fn node_id(&self) -> Option<u64> {
        match self.role {
            Role::Admin => None,
            Role::Voter | Role::Learner => self.name.parse().ok(),
        }
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.role {
            Role::Admin => write!(f, "administrator {:?}", self.name),
            role => write!(f, "{} node {}", role.as_str(), self.name),
        }
    }
}

/// Which identities may call a Cluster method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Allowed {
    /// Raft messages that only a leader or candidate sends.
    Voters,
    /// Cluster administration.
    Admins,
    /// Any node of the cluster (a learner's linearizable read).
    Nodes,
    /// Any identity of the cluster (status: nodes and administrators).
    Anyone,
}

impl Allowed {
    fn of(path: &str) -> Allowed {
        match path.rsplit('/').next().unwrap_or_default() {
            "AppendEntries" | "Vote" | "InstallSnapshot" => Allowed::Voters,
            "Init" | "AddLearner" | "ChangeVoters" => Allowed::Admins,
            "ReadIndex" => Allowed::Nodes,
            _ => Allowed::Anyone,
        }
    }

    fn admits(self, role: Role) -> bool {
        match self {
            Allowed::Voters => role == Role::Voter,
            Allowed::Admins => role == Role::Admin,
            Allowed::Nodes => role != Role::Admin,
            Allowed::Anyone => true,
        }
    }

    fn needs(self) -> &'static str {
        match self {
            Allowed::Voters => "a voter node's certificate (only ministry nodes lead and vote)",
            Allowed::Admins => {
                "an administrator's certificate (tansiq://CHAIN/admin/NAME); node certificates cannot administer the cluster"
            }
            Allowed::Nodes => "a node certificate of this cluster",
            Allowed::Anyone => "a certificate of this cluster (node or administrator)",
        }
    }
}

/// Wraps the Cluster service: refuses a call whose caller may not make it,
/// before its body is read, and hands the caller's identity to the service.
#[derive(Clone)]
pub struct ClusterGate<S> {
    inner: S,
    /// The chain id certificates must name; None: plaintext, no checks.
    chain: Option<Arc<str>>,
}

impl<S> ClusterGate<S> {
    /// `chain`: the ledger's chain id when the node serves TLS, None for
    /// plaintext (loopback tests).
    pub fn new(inner: S, chain: Option<&ChainId>) -> ClusterGate<S> {
        ClusterGate {
            inner,
            chain: chain.map(|chain| Arc::from(chain.as_str())),
        }
    }

    fn admit(&self, request: &http::Request<Body>) -> Result<Option<PeerIdentity>, Status> {
        let Some(chain) = &self.chain else {
            return Ok(None);
        };
        let allowed = Allowed::of(request.uri().path());
        let certificate = request
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(|info| info.peer_certs())
            .and_then(|certificates| certificates.first().cloned());
        let Some(certificate) = certificate else {
            return Err(Status::unauthenticated(format!(
                "{} needs {} presented over mutual TLS; the tansiq CLI sends one with --tls-cert and --tls-key",
                request.uri().path(),
                allowed.needs()
            )));
        };
        let identity = PeerIdentity::from_certificate(&certificate)
            .map_err(|reason| Status::permission_denied(format!("refused: {reason}")))?;
        if identity.chain != **chain {
            return Err(Status::permission_denied(format!(
                "the certificate is for chain {:?}, this node serves chain {chain:?}",
                identity.chain
            )));
        }
        if !allowed.admits(identity.role) {
            tracing::warn!(caller = %identity, method = request.uri().path(), "refused a Cluster call the caller's certificate does not allow");
            return Err(Status::permission_denied(format!(
                "{} needs {}; the caller is {identity}",
                request.uri().path(),
                allowed.needs()
            )));
        }
        Ok(Some(identity))
    }
}

impl<S> Service<http::Request<Body>> for ClusterGate<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<http::Response<Body>, Infallible>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        match self.admit(&request) {
            Ok(identity) => {
                if let Some(identity) = identity {
                    request.extensions_mut().insert(identity);
                }
                Box::pin(self.inner.call(request))
            }
            Err(status) => {
                let response = status.into_http();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

impl<S: NamedService> NamedService for ClusterGate<S> {
    const NAME: &'static str = S::NAME;
}

/// The caller's identity, as the gate admitted it (None: plaintext).
pub fn caller<T>(request: &Request<T>) -> Option<&PeerIdentity> {
    request.extensions().get::<PeerIdentity>()
}

/// A Raft message names the node it comes from (the leader, or the
/// candidate); under TLS that must be the node whose certificate sent it.
pub fn claimed_node_matches(
    caller: Option<&PeerIdentity>,
    claimed: Option<u64>,
    what: &str,
) -> Result<(), Status> {
    let Some(caller) = caller else {
        return Ok(());
    };
    if caller.role == Role::Voter && claimed.is_some() && caller.node_id() == claimed {
        return Ok(());
    }
    let claimed = claimed.map_or_else(|| "no node".to_owned(), |id| format!("node {id}"));
    tracing::warn!(%caller, claimed, what, "refused a Raft message claiming to come from another node");
    Err(Status::permission_denied(format!(
        "{what} claims to come from {claimed}, but the caller's certificate names {caller}; nothing was changed"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_round_trip_through_their_uri() {
        let chain = ChainId::parse("tansiq-dev").expect("chain id");
        for identity in [
            PeerIdentity::node(&chain, Role::Voter, 3),
            PeerIdentity::node(&chain, Role::Learner, 4),
            PeerIdentity::admin(&chain, "ops-1"),
        ] {
            assert_eq!(PeerIdentity::from_uri(&identity.uri()), Some(identity));
        }
        for bad in [
            "tansiq://tansiq-dev/voter/x",
            "tansiq://tansiq-dev/king/1",
            "tansiq://tansiq-dev/voter/1/2",
            "tansiq://Bad/voter/1",
            "https://tansiq-dev/voter/1",
            "tansiq://tansiq-dev/admin/",
        ] {
            assert_eq!(PeerIdentity::from_uri(bad), None, "{bad}");
        }
    }

    #[test]
    fn each_method_admits_only_its_roles() {
        let path = |method: &str| Allowed::of(&format!("/tansiq.v1.Cluster/{method}"));
        for method in ["AppendEntries", "Vote", "InstallSnapshot"] {
            assert!(path(method).admits(Role::Voter));
            assert!(!path(method).admits(Role::Learner), "{method}");
            assert!(!path(method).admits(Role::Admin), "{method}");
        }
        for method in ["Init", "AddLearner", "ChangeVoters"] {
            assert!(path(method).admits(Role::Admin));
            assert!(!path(method).admits(Role::Voter), "{method}");
            assert!(!path(method).admits(Role::Learner), "{method}");
        }
        assert!(path("ReadIndex").admits(Role::Learner));
        assert!(!path("ReadIndex").admits(Role::Admin));
        assert!(path("Status").admits(Role::Admin));
    }

    #[test]
    fn a_raft_message_must_come_from_the_node_it_names() {
        let chain = ChainId::parse("tansiq-dev").expect("chain id");
        let voter_2 = PeerIdentity::node(&chain, Role::Voter, 2);
        let learner_4 = PeerIdentity::node(&chain, Role::Learner, 4);
        assert!(claimed_node_matches(Some(&voter_2), Some(2), "AppendEntries").is_ok());
        assert!(claimed_node_matches(Some(&voter_2), Some(1), "AppendEntries").is_err());
        assert!(claimed_node_matches(Some(&voter_2), None, "AppendEntries").is_err());
        assert!(claimed_node_matches(Some(&learner_4), Some(4), "Vote").is_err());
        assert!(
            claimed_node_matches(None, Some(1), "Vote").is_ok(),
            "plaintext"
        );
    }
}
