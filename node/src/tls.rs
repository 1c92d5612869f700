//! Transport security: TLS for clients, mutual TLS between nodes (rustls,
//! through tonic).
//!
//! A node serves TLS with its certificate and asks connecting clients for a
//! certificate from the cluster's CA without requiring one: clients of the
//! Ledger and Coverage services need none, while the node-to-node and
//! administration RPCs of `tansiq.v1.Cluster` refuse a caller without one
//! (see [`require_client_certificate`]). A node connects to its peers with
//! its own certificate as client identity.
//!
//! For development, [`dev_files`] creates a local CA (clearly marked, in the
//! data directory), a certificate for the node signed by it, naming the
//! node's identity (see [`crate::peer_identity`]), and an administrator's
//! certificate beside the CA; other dev nodes of a cluster pass
//! `--dev-ca DIR` to get theirs from the same CA.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use tansiq_ledger::signing::ChainId;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};
use tonic::Status;

use crate::peer_identity::PeerIdentity;

/// The PEM files a node serves and connects with.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The CA that signs the cluster's node certificates (and verifies them).
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// TLS material loaded once at start.
#[derive(Clone)]
pub struct Tls {
    ca: Certificate,
    identity: Identity,
    /// The Tansiq identity the node's certificate names (or why none).
    names: Result<PeerIdentity, String>,
    /// The PEM files as read (CA, certificate, key), for the console's own
    /// TLS server.
    pem: std::sync::Arc<(Vec<u8>, Vec<u8>, Vec<u8>)>,
}

pub const DEV_TLS_DIR: &str = "tls";
const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";
const NODE_CERT: &str = "node.pem";
const NODE_KEY: &str = "node.key";
/// The dev administrator's certificate, beside the dev CA that made it.
pub const ADMIN_CERT: &str = "admin.pem";
pub const ADMIN_KEY: &str = "admin.key";
const DEV_ADMIN_NAME: &str = "dev-admin";
const DEV_CA_NAME: &str = "Tansiq DEVELOPMENT CA (not for production)";

impl Tls {
    pub fn load(files: &TlsFiles) -> anyhow::Result<Tls> {
        let read = |path: &Path, what: &str| {
            std::fs::read(path)
                .with_context(|| format!("cannot read the {what} {}", path.display()))
        };
        let certificate = read(&files.cert, "node certificate")?;
        let ca = read(&files.ca, "CA certificate")?;
        let key = read(&files.key, "node key")?;
        Ok(Tls {
            ca: Certificate::from_pem(ca.clone()),
            names: identity_in_pem(&certificate),
            identity: Identity::from_pem(certificate.clone(), key.clone()),
            pem: std::sync::Arc::new((ca, certificate, key)),
        })
    }

    /// The CA certificate, the node certificate and its key, as PEM.
    pub fn pem(&self) -> (&[u8], &[u8], &[u8]) {
        let (ca, cert, key) = &*self.pem;
        (ca, cert, key)
    }

    /// Checks that the node's certificate names this node: `node_id` of
    /// `chain`, as a voter or a learner. Peers accept the node's Raft
    /// messages only as the node its certificate names.
    pub fn check_names_node(&self, chain: &ChainId, node_id: u64) -> anyhow::Result<PeerIdentity> {
        let identity = self.names.clone().map_err(|reason| {
            anyhow::anyhow!("the node certificate given with --tls-cert cannot serve a cluster member: {reason}")
        })?;
        if identity.chain != chain.as_str() || identity.node_id() != Some(node_id) {
            anyhow::bail!(
                "the node certificate names {identity} of chain {:?}, but this is node {node_id} of chain {:?}: issue it a certificate naming tansiq://{chain}/voter/{node_id} (or /learner/{node_id} for a donor site)",
                identity.chain,
                chain.as_str()
            );
        }
        Ok(identity)
    }

    /// Serve with the node's certificate; ask clients for one from the CA.
    pub fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity.clone())
            .client_ca_root(self.ca.clone())
            .client_auth_optional(true)
    }

    /// Connect to a peer: trust the CA, present the node's certificate.
    pub fn client_config(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(self.ca.clone())
            .identity(self.identity.clone())
    }
}

/// An endpoint for a peer's URL, with the node's TLS when it has TLS.
pub fn endpoint(url: &str, tls: Option<&Tls>) -> Result<Endpoint, Status> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|error| Status::internal(format!("peer address {url}: {error}")))?;
    match tls {
        Some(tls) => endpoint
            .tls_config(tls.client_config())
            .map_err(|error| Status::internal(format!("TLS configuration for {url}: {error}"))),
        None => Ok(endpoint),
    }
}

/// The Tansiq identity a PEM certificate names.
fn identity_in_pem(pem: &[u8]) -> Result<PeerIdentity, String> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem)
        .map_err(|error| format!("not a PEM certificate: {error}"))?;
    PeerIdentity::from_certificate(&block.contents)
}

fn dev_ca_params() -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, DEV_CA_NAME);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    std::fs::write(path, pem).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// The dev CA in `dir`, created on first use.
fn dev_ca(dir: &Path) -> anyhow::Result<(PathBuf, KeyPair)> {
    let (cert_path, key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
    if cert_path.exists() && key_path.exists() {
        let pem = std::fs::read_to_string(&key_path)
            .with_context(|| format!("cannot read {}", key_path.display()))?;
        return Ok((cert_path, KeyPair::from_pem(&pem)?));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let key = KeyPair::generate()?;
    let cert = dev_ca_params()?.self_signed(&key)?;
    std::fs::write(&cert_path, cert.pem())?;
    write_private(
        &key_path,
        &format!(
            "# DEVELOPMENT CA KEY: generated by tansiq-node --dev, never for production\n{}",
            key.serialize_pem()
        ),
    )?;
    Ok((cert_path, key))
}

/// The dev TLS files of a node whose data lives in `data_dir`: the CA of
/// `ca_dir` (another dev node's `tls` folder) or a new one of its own, and
/// a node certificate for localhost, 127.0.0.1 and ::1 naming `identity`
/// (a cluster member's; None for a single node), created on first start and
/// issued again when it names another identity. A node with a CA of its own
/// also gets the dev administrator's certificate ([`ADMIN_CERT`]) of `chain`.
pub fn dev_files(
    data_dir: &Path,
    ca_dir: Option<&Path>,
    identity: Option<&PeerIdentity>,
    chain: &ChainId,
) -> anyhow::Result<TlsFiles> {
    let own = data_dir.join(DEV_TLS_DIR);
    let ca_dir = ca_dir.unwrap_or(&own);
    let (ca_path, ca_key) = dev_ca(ca_dir)?;
    std::fs::create_dir_all(&own).with_context(|| format!("cannot create {}", own.display()))?;
    let own_ca = own.join(CA_CERT);
    if own_ca != ca_path {
        std::fs::copy(&ca_path, &own_ca)
            .with_context(|| format!("cannot copy the dev CA to {}", own_ca.display()))?;
    }
    let issuer = Issuer::new(dev_ca_params()?, ca_key);
    if ca_dir == own {
        let admin = PeerIdentity::admin(chain, DEV_ADMIN_NAME);
        issue_dev_certificate(
            &issuer,
            &own.join(ADMIN_CERT),
            &own.join(ADMIN_KEY),
            Some(&admin),
            "DEVELOPMENT administrator key: may administer the dev cluster",
        )?;
    }
    let files = TlsFiles {
        ca: own_ca,
        cert: own.join(NODE_CERT),
        key: own.join(NODE_KEY),
    };
    issue_dev_certificate(
        &issuer,
        &files.cert,
        &files.key,
        identity,
        "DEVELOPMENT node key: generated by tansiq-node",
    )?;
    Ok(files)
}

/// Writes a dev certificate naming `identity`, unless `cert` already holds
/// one that names it.
fn issue_dev_certificate(
    issuer: &Issuer<'_, KeyPair>,
    cert_path: &Path,
    key_path: &Path,
    identity: Option<&PeerIdentity>,
    marking: &str,
) -> anyhow::Result<()> {
    if key_path.exists() {
        if let Ok(pem) = std::fs::read(cert_path) {
            if identity_in_pem(&pem).ok().as_ref() == identity {
                return Ok(());
            }
        }
    }
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])?;
    let common_name = match identity {
        Some(identity) => format!("tansiq {identity} (development)"),
        None => "tansiq-node (development)".to_owned(),
    };
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    if let Some(identity) = identity {
        params
            .subject_alt_names
            .push(SanType::URI(identity.uri().try_into()?));
    }
    let cert = params.signed_by(&key, issuer)?;
    write_private(
        key_path,
        &format!("# {marking}, never for production\n{}", key.serialize_pem()),
    )?;
    std::fs::write(cert_path, cert.pem())
        .with_context(|| format!("cannot write {}", cert_path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer_identity::Role;

    #[test]
    fn dev_nodes_of_one_ca_share_it_and_keep_their_certificates() {
        let root = tempfile::tempdir().expect("temp dir");
        let chain = ChainId::parse("tansiq-dev").expect("chain id");
        let one = PeerIdentity::node(&chain, Role::Voter, 1);
        let two = PeerIdentity::node(&chain, Role::Learner, 2);
        let first =
            dev_files(&root.path().join("a"), None, Some(&one), &chain).expect("first node");
        let ca_dir = root.path().join("a").join(DEV_TLS_DIR);
        let second = dev_files(&root.path().join("b"), Some(&ca_dir), Some(&two), &chain)
            .expect("second node");
        let read = |path: &Path| std::fs::read(path).expect("read");
        assert_eq!(read(&first.ca), read(&second.ca), "one CA");
        assert_ne!(read(&first.cert), read(&second.cert), "own certificates");
        let again = dev_files(&root.path().join("a"), None, Some(&one), &chain).expect("restart");
        assert_eq!(read(&first.cert), read(&again.cert), "kept across restarts");
        let tls = Tls::load(&second).expect("the files load");
        assert_eq!(tls.check_names_node(&chain, 2).expect("names node 2"), two);
        let wrong = tls
            .check_names_node(&chain, 3)
            .expect_err("names node 2, not 3")
            .to_string();
        assert!(wrong.contains("tansiq://tansiq-dev/voter/3"), "{wrong}");
        // Another identity for the same data directory: a new certificate.
        let voter_two = PeerIdentity::node(&chain, Role::Voter, 2);
        dev_files(
            &root.path().join("b"),
            Some(&ca_dir),
            Some(&voter_two),
            &chain,
        )
        .expect("re-issued");
        let tls = Tls::load(&second).expect("the files load");
        assert_eq!(
            tls.check_names_node(&chain, 2).expect("names node 2"),
            voter_two
        );
        // The CA's own node holds the administrator's certificate.
        let admin = identity_in_pem(&read(&ca_dir.join(ADMIN_CERT))).expect("admin identity");
        assert_eq!(admin.role, Role::Admin);
        assert!(!root
            .path()
            .join("b")
            .join(DEV_TLS_DIR)
            .join(ADMIN_CERT)
            .exists());
    }
}
