//! The connections a node accepts: at most [`Limits::connections_max`] at
//! once (one more is closed at once, and logged), each with Nagle off; an
//! accept that fails (no file descriptor left) is retried after a pause
//! instead of at once, so a flood cannot spin the accept loop. At start the
//! open-file limit is raised to the hard limit, and a node refuses to start
//! below what its connections and RocksDB need.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tansiq_ledger::sync::lock_whole;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::exposition::Limit;
use crate::limits::Limits;

/// Files RocksDB keeps open at most (`max_open_files` of the store), plus
/// its logs, the WAL and the node's other files.
const FILES_BESIDES_CONNECTIONS: u64 = tansiq_ledger::limits::STORE_OPEN_FILES_MAX as u64 + 128;

/// Raises the soft open-file limit to the hard limit; an error when even
/// the hard limit is below what `limits` need.
pub fn raise_open_file_limit(limits: &Limits) -> anyhow::Result<u64> {
    let needed = limits.connections_max as u64 + FILES_BESIDES_CONNECTIONS;
    let raised = rlimit::increase_nofile_limit(u64::MAX)
        .map_err(|error| anyhow::anyhow!("cannot read or raise the open-file limit: {error}"))?;
    if raised < needed {
        anyhow::bail!(
            "the open-file limit is {raised} (hard limit), below the {needed} this node needs for --max-connections {} and its store: raise it (systemd: LimitNOFILE={needed} or more; a shell: ulimit -n {needed}) or lower --max-connections",
            limits.connections_max
        );
    }
    Ok(raised)
}

/// A connection that holds one of the node's connection slots, and one of
/// its address's, while open.
pub struct Limited {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    _address: AddressSlot,
}

/// Open connections by address.
type ByAddress = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One connection counted for its address while it is open.
struct AddressSlot {
    ip: IpAddr,
    open: ByAddress,
}

impl AddressSlot {
    /// Counts a connection from `ip`, unless `ip` has `max` open already.
    fn take(open: &ByAddress, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut counts = lock_whole(open);
        let count = counts.entry(ip).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        crate::exposition::EXPORTED.connections_open.inc();
        Some(AddressSlot {
            ip,
            open: Arc::clone(open),
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        crate::exposition::EXPORTED.connections_open.dec();
        let mut counts = lock_whole(&self.open);
        if let Some(count) = counts.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

impl Connected for Limited {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Limited {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(context, buffer)
    }
}

impl AsyncWrite for Limited {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(context, bytes)
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(context)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(context, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Connections refused because every slot was taken, since start.
static REFUSED_CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// The stream of accepted connections the gRPC server serves.
pub fn accept(
    listener: TcpListener,
    limits: &Limits,
) -> ReceiverStream<Result<Limited, io::Error>> {
    let slots = Arc::new(Semaphore::new(limits.connections_max));
    let by_address: ByAddress = Arc::default();
    let (connections_max, per_ip_max) = (limits.connections_max, limits.connections_per_ip_max);
    let (sender, receiver) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = sender.closed() => return,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let slots = (
                        Arc::clone(&slots).try_acquire_owned().ok(),
                        AddressSlot::take(&by_address, peer.ip(), per_ip_max),
                    );
                    let (Some(slot), Some(address)) = slots else {
                        // Closed at once: the flood costs one file descriptor
                        // for a moment, never a slot.
                        drop(stream);
                        crate::exposition::EXPORTED.refused_by(if slots.0.is_none() {
                            Limit::Connections
                        } else {
                            Limit::ConnectionsPerAddress
                        });
                        let refused = REFUSED_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
                        if refused.is_power_of_two() || refused == 0 {
                            tracing::warn!(%peer, connections_max, per_ip_max, refused_so_far = refused + 1, "closed a new connection: every connection slot, or every slot of its address, is taken (--max-connections)");
                        }
                        continue;
                    };
                    // Small messages (submissions, Raft heartbeats) must not
                    // wait for Nagle's algorithm.
                    let _ = stream.set_nodelay(true);
                    let connection = Limited {
                        stream,
                        _slot: slot,
                        _address: address,
                    };
                    if sender.send(Ok(connection)).await.is_err() {
                        return;
                    }
                }
                Err(error) => {
                    // EMFILE, ENFILE, ENOBUFS: retrying at once would spin.
                    tracing::warn!(%error, "cannot accept a connection; pausing 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    ReceiverStream::new(receiver)
}
