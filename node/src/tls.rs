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
//! data directory) and a certificate for the node signed by it; other dev
//! nodes of a cluster pass `--dev-ca DIR` to get theirs from the same CA.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};
use tonic::{Request, Status};

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
}

pub const DEV_TLS_DIR: &str = "tls";
const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";
const NODE_CERT: &str = "node.pem";
const NODE_KEY: &str = "node.key";
const DEV_CA_NAME: &str = "Tansiq DEVELOPMENT CA (not for production)";

impl Tls {
    pub fn load(files: &TlsFiles) -> anyhow::Result<Tls> {
        let read = |path: &Path, what: &str| {
            std::fs::read(path)
                .with_context(|| format!("cannot read the {what} {}", path.display()))
        };
        Ok(Tls {
            ca: Certificate::from_pem(read(&files.ca, "CA certificate")?),
            identity: Identity::from_pem(
                read(&files.cert, "node certificate")?,
                read(&files.key, "node key")?,
            ),
        })
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

/// Node-to-node and administration RPCs: under TLS, the caller must have
/// presented a certificate signed by the cluster's CA (rustls checked the
/// chain during the handshake; here we check one was presented).
pub fn require_client_certificate<T>(tls: bool, request: &Request<T>) -> Result<(), Status> {
    if !tls {
        return Ok(());
    }
    match request.peer_certs() {
        Some(certificates) if !certificates.is_empty() => Ok(()),
        _ => Err(Status::permission_denied(
            "this Cluster RPC needs a client certificate signed by the cluster's CA (mutual TLS); the tansiq CLI sends one with --tls-cert and --tls-key",
        )),
    }
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
/// a node certificate for localhost, 127.0.0.1 and ::1, created on first start.
pub fn dev_files(data_dir: &Path, ca_dir: Option<&Path>) -> anyhow::Result<TlsFiles> {
    let own = data_dir.join(DEV_TLS_DIR);
    let ca_dir = ca_dir.unwrap_or(&own);
    let (ca_path, ca_key) = dev_ca(ca_dir)?;
    std::fs::create_dir_all(&own).with_context(|| format!("cannot create {}", own.display()))?;
    let own_ca = own.join(CA_CERT);
    if own_ca != ca_path {
        std::fs::copy(&ca_path, &own_ca)
            .with_context(|| format!("cannot copy the dev CA to {}", own_ca.display()))?;
    }
    let files = TlsFiles {
        ca: own_ca,
        cert: own.join(NODE_CERT),
        key: own.join(NODE_KEY),
    };
    if !(files.cert.exists() && files.key.exists()) {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "tansiq-node (development)");
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let issuer = Issuer::new(dev_ca_params()?, ca_key);
        let cert = params.signed_by(&key, &issuer)?;
        std::fs::write(&files.cert, cert.pem())?;
        write_private(
            &files.key,
            &format!(
                "# DEVELOPMENT node key: generated by tansiq-node, never for production\n{}",
                key.serialize_pem()
            ),
        )?;
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_nodes_of_one_ca_share_it_and_keep_their_certificates() {
        let root = tempfile::tempdir().expect("temp dir");
        let first = dev_files(&root.path().join("a"), None).expect("first node");
        let ca_dir = root.path().join("a").join(DEV_TLS_DIR);
        let second = dev_files(&root.path().join("b"), Some(&ca_dir)).expect("second node");
        let read = |path: &Path| std::fs::read(path).expect("read");
        assert_eq!(read(&first.ca), read(&second.ca), "one CA");
        assert_ne!(read(&first.cert), read(&second.cert), "own certificates");
        let again = dev_files(&root.path().join("a"), None).expect("restart");
        assert_eq!(read(&first.cert), read(&again.cert), "kept across restarts");
        Tls::load(&second).expect("the files load");
    }
}
