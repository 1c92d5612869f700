//! `tansiq mirror DIR --from URL` and `tansiq verify --mirror DIR`: a copy
//! of the log in the transparency-log ecosystem's own layout
//! (c2sp.org/tlog-tiles: `checkpoint`, `tile/<L>/<N>[.p/<W>]`,
//! `tile/entries/<N>[.p/<W>]`, plus `genesis`), fetched from a node's HTTP
//! address and checked as it arrives, then checked again offline, with no
//! node, against a signed checkpoint:
//!
//! - every entry bundle hashes to the level-0 hash tile beside it, and
//!   every hash tile to the tiles below it, naming the file that does not;
//! - the entries hash up to the checkpoint's root, whose signature is the
//!   log key's;
//! - every event's signature, every key's chain and the head chain from
//!   the genesis (`crate::verify`'s checks).
//!
//! Full tiles never change: a mirror run again keeps those it has and
//! fetches the rest (it resumes). Partial tiles are fetched again.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use prost::Message;
use serde_json::json;
use tansiq_ledger::genesis::Genesis;
use tansiq_ledger::tree::checkpoint::{self, Verified};
use tansiq_ledger::tree::tiles::{TilePath, TILE_WIDTH};
use tansiq_ledger::tree::{leaf_hash, node_hash, Hash};
use tansiq_proto::v1 as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::args::Output;
use crate::output;
use crate::verify::ChainVerifier;

/// Largest answer the mirror accepts for one file (a full entry bundle of
/// 256 events of at most 64 KiB each, with room to spare).
const ANSWER_BYTES_MAX: usize = 20 * 1024 * 1024;
/// How long one file may take to arrive.
const FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Where and how to fetch.
pub struct Source {
    /// `http://host:port` or `https://host:port`.
    pub base: String,
    /// The CA of the node's certificate (https).
    pub ca: Option<PathBuf>,
    /// A console access token.
    pub token: Option<String>,
}

impl Source {
    /// GETs `path` (no leading slash): the body of a 200, else an error
    /// with the node's words.
    async fn get(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        tokio::time::timeout(FETCH_TIMEOUT, self.get_once(path))
            .await
            .with_context(|| format!("GET /{path}: no answer within {FETCH_TIMEOUT:?}"))?
    }

    async fn get_once(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let (tls, rest) = if let Some(rest) = self.base.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = self.base.strip_prefix("http://") {
            (false, rest)
        } else {
            bail!("--from {:?}: give the node's console address, http://HOST:PORT or https://HOST:PORT", self.base);
        };
        let host = rest.trim_end_matches('/');
        let mut request = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
        if let Some(token) = &self.token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        request.push_str("\r\n");
        let stream = tokio::net::TcpStream::connect(host)
            .await
            .with_context(|| format!("cannot connect to {host}"))?;
        let mut answer = Vec::new();
        if tls {
            let connector = tls_connector(self.ca.as_deref())?;
            let name_text = host.rsplit_once(':').map_or(host, |(name, _)| name);
            let name = tokio_rustls::rustls::pki_types::ServerName::try_from(name_text.to_owned())
                .with_context(|| format!("{name_text:?} is not a host name"))?;
            let mut stream = connector.connect(name, stream).await?;
            stream.write_all(request.as_bytes()).await?;
            (&mut stream)
                .take(ANSWER_BYTES_MAX as u64)
                .read_to_end(&mut answer)
                .await?;
        } else {
            let mut stream = stream;
            stream.write_all(request.as_bytes()).await?;
            (&mut stream)
                .take(ANSWER_BYTES_MAX as u64)
                .read_to_end(&mut answer)
                .await?;
        }
        let split = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .context("the node's answer has no HTTP header")?;
        let head = String::from_utf8_lossy(&answer[..split]).into_owned();
        let body = answer[split + 4..].to_vec();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .context("the node's answer has no HTTP status")?;
        if status != 200 {
            bail!(
                "GET /{path}: HTTP {status}: {}",
                String::from_utf8_lossy(&body).trim()
            );
        }
        Ok(body)
    }
}

fn tls_connector(ca: Option<&Path>) -> anyhow::Result<tokio_rustls::TlsConnector> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::CertificateDer;
    let ca = ca
        .map(Path::to_path_buf)
        .or_else(|| Some(PathBuf::from(crate::client::DEV_CA)).filter(|p| p.exists()))
        .context("an https mirror source needs --ca FILE, the CA of the node's certificate")?;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(&ca)
        .with_context(|| format!("cannot read the CA {}", ca.display()))?
    {
        roots.add(certificate?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(std::sync::Arc::new(
        config,
    )))
}

/// The tile paths of a tree of `size` entries: entry bundles and level-0
/// hash tiles, then the levels above, each full one and the right edge.
/// (Produced one at a time: a checkpoint's size is the log's word, and
/// a huge one must not make the mirror allocate for it up front.)
fn tiles_of(size: u64) -> impl Iterator<Item = TilePath> {
    // The tiles of a level of `level_size` hashes: (index, width).
    let widths = |level_size: u64| {
        (0..level_size.div_ceil(TILE_WIDTH))
            .map(move |index| (index, (level_size - index * TILE_WIDTH).min(TILE_WIDTH)))
    };
    let entries = widths(size).map(|(index, width)| TilePath::Entries { index, width });
    let hashes = (0_u8..8)
        .map(move |level| (level, size >> (u32::from(level) * 8)))
        .take_while(|(_, level_size)| *level_size > 0)
        .flat_map(move |(level, level_size)| {
            widths(level_size).map(move |(index, width)| TilePath::Hashes {
                level,
                index,
                width,
            })
        });
    entries.chain(hashes)
}

/// The file a tile path is kept in, under the mirror's directory.
fn tile_file(dir: &Path, tile: TilePath) -> PathBuf {
    dir.join(tile.path())
}

/// The RFC 6962 root of `leaves` (a stack of complete subtrees).
fn root_of(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return tansiq_ledger::tree::empty_root();
    }
    fn mth(leaves: &[Hash]) -> Hash {
        if leaves.len() == 1 {
            return leaves[0];
        }
        let mut k = 1;
        while k * 2 < leaves.len() {
            k *= 2;
        }
        node_hash(mth(&leaves[..k]), mth(&leaves[k..]))
    }
    mth(leaves)
}

/// Everything a mirror directory holds, checked against `checkpoint`:
/// returns the entries, in order.
fn check_mirror(dir: &Path, checkpoint: &Verified) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut entries = Vec::new();
    let mut leaves = Vec::new();
    // Hashes at each tile level (tree level 8·L), as recomputed.
    let mut levels: Vec<Vec<Hash>> = Vec::new();
    for tile in tiles_of(checkpoint.size) {
        let file = tile_file(dir, tile);
        let bytes =
            std::fs::read(&file).with_context(|| format!("the mirror lacks {}", file.display()))?;
        match tile {
            TilePath::Entries { index, width } => {
                let mut rest = bytes.as_slice();
                let mut count = 0;
                while !rest.is_empty() {
                    if rest.len() < 2 {
                        bail!("{}: truncated entry bundle", file.display());
                    }
                    let length = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                    let entry = rest
                        .get(2..2 + length)
                        .with_context(|| format!("{}: truncated entry bundle", file.display()))?;
                    leaves.push(leaf_hash(entry));
                    entries.push(entry.to_vec());
                    rest = &rest[2 + length..];
                    count += 1;
                }
                if count != width {
                    bail!(
                        "{}: entry bundle {index} holds {count} entries, not {width}",
                        file.display()
                    );
                }
            }
            TilePath::Hashes {
                level,
                index,
                width,
            } => {
                let level = usize::from(level);
                if levels.len() <= level {
                    levels.resize(level + 1, Vec::new());
                }
                if level == 0 {
                    if levels[0].is_empty() {
                        levels[0] = leaves.clone();
                    }
                } else if levels[level].is_empty() {
                    levels[level] = levels[level - 1]
                        .chunks(TILE_WIDTH as usize)
                        .filter(|chunk| chunk.len() == TILE_WIDTH as usize)
                        .map(root_of)
                        .collect();
                }
                let start = (index * TILE_WIDTH) as usize;
                let expected = levels[level]
                    .get(start..start + width as usize)
                    .with_context(|| format!("{}: beyond the tree", file.display()))?;
                let stored: Vec<&[u8]> = bytes.chunks(32).collect();
                if stored.len() != expected.len()
                    || stored
                        .iter()
                        .zip(expected)
                        .any(|(s, e)| *s != e.0.as_slice())
                {
                    bail!(
                        "{}: hash tile does not match the entries it covers: the tile or an entry bundle under it was altered",
                        file.display()
                    );
                }
            }
        }
    }
    if root_of(&leaves) != checkpoint.root {
        bail!(
            "the mirror's {} entries do not hash to the checkpoint's root {}: the mirror is not of this log, or was altered",
            leaves.len(),
            hex::encode(checkpoint.root.0)
        );
    }
    Ok(entries)
}

/// `tansiq mirror DIR --from URL`.
pub async fn mirror(
    output: Output,
    dir: &Path,
    source: &Source,
    log_key: &str,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let genesis_bytes = source.get("genesis").await?;
    let genesis = Genesis::decode(&genesis_bytes).context("the node's genesis")?;
    let origin = checkpoint::origin(&genesis.chain);
    let note = source.get("checkpoint").await?;
    let verified = checkpoint::verify(&note, log_key, &origin).context("the node's checkpoint")?;
    let (mut fetched, mut kept) = (0, 0);
    for tile in tiles_of(verified.size) {
        let file = tile_file(dir, tile);
        if tile.is_full() && file.exists() {
            kept += 1;
            continue;
        }
        let bytes = source.get(&tile.path()).await?;
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&file, bytes).with_context(|| format!("cannot write {}", file.display()))?;
        fetched += 1;
    }
    // Checked before the checkpoint is kept: a mirror's checkpoint always
    // covers what it holds.
    let entries = check_mirror(dir, &verified)?;
    std::fs::write(dir.join("genesis"), &genesis_bytes)?;
    std::fs::write(dir.join("checkpoint"), &note)?;
    output::record(
        output,
        &json!({
            "mirror": dir.display().to_string(),
            "origin": verified.origin,
            "size": verified.size,
            "root": hex::encode(verified.root.0),
            "entries": entries.len(),
            "tiles_fetched": fetched,
            "tiles_kept": kept,
        }),
    );
    Ok(())
}

/// `tansiq verify --mirror DIR [--checkpoint FILE] --log-key KEY`, offline.
pub fn verify(
    output: Output,
    dir: &Path,
    checkpoint_file: Option<&Path>,
    log_key: &str,
) -> anyhow::Result<()> {
    let genesis_bytes = std::fs::read(dir.join("genesis"))
        .with_context(|| format!("{} holds no genesis: mirror it first", dir.display()))?;
    let genesis = Genesis::decode(&genesis_bytes).context("the mirror's genesis")?;
    let origin = checkpoint::origin(&genesis.chain);
    let file = checkpoint_file.map_or_else(|| dir.join("checkpoint"), Path::to_path_buf);
    let note = std::fs::read(&file)
        .with_context(|| format!("cannot read the checkpoint {}", file.display()))?;
    let verified = checkpoint::verify(&note, log_key, &origin)
        .with_context(|| format!("the checkpoint {}", file.display()))?;
    let entries = check_mirror(dir, &verified)?;
    let mut chain = ChainVerifier::new(genesis);
    for (index, entry) in entries.into_iter().enumerate() {
        let event = pb::SignedEvent::decode(entry.as_slice())
            .with_context(|| format!("entry {index} is not a signed event"))?;
        chain.push_event(index as u64 + 1, event)?;
    }
    let (events, head) = chain.finish()?;
    output::record(
        output,
        &json!({
            "result": "ok",
            "mirror": dir.display().to_string(),
            "checkpoint": file.display().to_string(),
            "size": verified.size,
            "root": hex::encode(verified.root.0),
            "events_verified": events,
            "head": head.to_hex(),
            "tiles": "all match their entries",
            "signatures": "all valid",
            "key_chains": "all contiguous",
        }),
    );
    Ok(())
}
