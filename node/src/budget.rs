//! A memory budget for request messages being received, and the time a
//! client request may take.
//!
//! gRPC decodes a request only once its whole message has arrived, and
//! tonic reserves room for the length a message's prefix declares as soon
//! as the prefix arrives, so a client that declares large messages and then
//! stalls makes the node hold that room. Every message of a request body
//! takes its declared length from a budget shared by all requests ([`Limits::receiving_bytes_max`]) and from
//! its sender's address's share ([`Limits::receiving_bytes_per_ip_max`]),
//! and gives it back when the body is dropped (decoded, or the request
//! ended). A frame that does not fit ends its request with
//! RESOURCE_EXHAUSTED at once: the node never waits for memory, so one
//! client holding its share cannot stall the others. The Cluster service is
//! outside the budget: its gate refuses every caller but the cluster's own
//! nodes before a byte is read, and a voter's AppendEntries may be larger
//! than an address's share. The same layer ends a client's request that is
//! not received and answered within [`Limits::request_timeout`] (Cluster
//! calls have Raft's own timeouts: a large snapshot's installation, all its
//! events checked again, may take longer), and answers a request message
//! that does not decode with INVALID_ARGUMENT rather than tonic's INTERNAL.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::Frame;
use tansiq_ledger::sync::lock_whole;
use tonic::body::Body;
use tonic::codegen::{http, BoxFuture, Bytes, Service};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::Status;

use crate::exposition::Limit;
use crate::limits::Limits;

/// Bytes held by requests being received, in all and by address.
pub struct Budget {
    total_max: usize,
    per_ip_max: usize,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

impl Budget {
    pub fn new(limits: &Limits) -> Budget {
        Budget {
            total_max: limits.receiving_bytes_max,
            per_ip_max: limits.receiving_bytes_per_ip_max,
            held: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        // Two counts change under the lock, with nothing that can panic between them.
        lock_whole(&self.held)
    }

    /// Takes `bytes` for `ip`, or says why not.
    fn take(&self, ip: Option<IpAddr>, bytes: usize) -> Result<(), Status> {
        let mut held = self.lock();
        if held.total + bytes > self.total_max {
            crate::exposition::EXPORTED.refused_by(Limit::ReceivingBytes);
            return Err(Status::resource_exhausted(format!(
                "this node is receiving {} MiB of requests already (its limit); retry in a moment",
                self.total_max / (1024 * 1024)
            )));
        }
        if let Some(ip) = ip {
            let from_ip = held.by_ip.get(&ip).copied().unwrap_or_default();
            if from_ip + bytes > self.per_ip_max {
                crate::exposition::EXPORTED.refused_by(Limit::ReceivingBytesPerAddress);
                return Err(Status::resource_exhausted(format!(
                    "requests from {ip} being received hold {} MiB of this node's memory (the limit per address); send fewer or smaller requests at once",
                    self.per_ip_max / (1024 * 1024)
                )));
            }
            *held.by_ip.entry(ip).or_default() += bytes;
        }
        held.total += bytes;
        Ok(())
    }

    fn give(&self, ip: Option<IpAddr>, bytes: usize) {
        let mut held = self.lock();
        held.total = held.total.saturating_sub(bytes);
        if let Some(ip) = ip {
            if let Some(from_ip) = held.by_ip.get_mut(&ip) {
                *from_ip = from_ip.saturating_sub(bytes);
                if *from_ip == 0 {
                    held.by_ip.remove(&ip);
                }
            }
        }
    }

    /// Bytes held now.
    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        self.lock().total
    }
}

/// A request body that takes each gRPC message's *declared* length from
/// the budget as soon as its 5-byte prefix arrives: tonic reserves a buffer
/// of that length then, before the message's bytes come (1,024 streams
/// declaring 16 MiB and sending 48 KiB each took a node to 2.2 GiB when
/// only the bytes received were counted).
struct Budgeted {
    inner: Body,
    budget: Arc<Budget>,
    ip: Option<IpAddr>,
    held: usize,
    frames: MessageFrames,
}

/// Where a body stands in its stream of length-prefixed gRPC messages.
#[derive(Default)]
struct MessageFrames {
    /// Bytes of the current message's prefix seen so far.
    prefix: [u8; 5],
    prefix_seen: usize,
    /// Bytes of the current message still to come.
    remaining: usize,
}

impl MessageFrames {
    /// The lengths declared by the message prefixes completed in `data`.
    fn declared_in(&mut self, mut data: &[u8]) -> Vec<usize> {
        let mut declared = Vec::new();
        while !data.is_empty() {
            if self.remaining > 0 {
                let taken = self.remaining.min(data.len());
                self.remaining -= taken;
                data = &data[taken..];
                continue;
            }
            let taken = (5 - self.prefix_seen).min(data.len());
            self.prefix[self.prefix_seen..self.prefix_seen + taken].copy_from_slice(&data[..taken]);
            self.prefix_seen += taken;
            data = &data[taken..];
            if self.prefix_seen == 5 {
                let length = u32::from_be_bytes([
                    self.prefix[1],
                    self.prefix[2],
                    self.prefix[3],
                    self.prefix[4],
                ]) as usize;
                declared.push(length);
                self.remaining = length;
                self.prefix_seen = 0;
            }
        }
        declared
    }
}

impl http_body::Body for Budgeted {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(context) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    for length in this.frames.declared_in(data) {
                        let charge = length + 5;
                        if let Err(status) = this.budget.take(this.ip, charge) {
                            return Poll::Ready(Some(Err(status)));
                        }
                        this.held += charge;
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(status))) => Poll::Ready(Some(Err(status))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Budgeted {
    fn drop(&mut self) {
        self.budget.give(self.ip, self.held);
    }
}

/// The one client-streaming call: a file of any size, in chunks.
const STREAMED_FILE_PATH: &str = "/tansiq.v1.Interchange/PlanIatiImport";

/// The server layer that puts request bodies on the budget.
#[derive(Clone)]
pub struct BudgetLayer {
    budget: Arc<Budget>,
    request_timeout: Duration,
}

impl BudgetLayer {
    pub fn new(limits: &Limits) -> BudgetLayer {
        BudgetLayer {
            budget: Arc::new(Budget::new(limits)),
            request_timeout: limits.request_timeout,
        }
    }
}

impl<S> tower::Layer<S> for BudgetLayer {
    type Service = Budgeting<S>;

    fn layer(&self, inner: S) -> Budgeting<S> {
        Budgeting {
            inner,
            budget: Arc::clone(&self.budget),
            request_timeout: self.request_timeout,
        }
    }
}

#[derive(Clone)]
pub struct Budgeting<S> {
    inner: S,
    budget: Arc<Budget>,
    request_timeout: Duration,
}

/// The address a request came from.
fn peer_ip(request: &http::Request<Body>) -> Option<IpAddr> {
    let extensions = request.extensions();
    extensions
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(|info| info.get_ref().remote_addr())
        .or_else(|| {
            extensions
                .get::<TcpConnectInfo>()
                .and_then(TcpConnectInfo::remote_addr)
        })
        .map(|address| address.ip())
}

impl<S> Service<http::Request<Body>> for Budgeting<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<http::Response<Body>, S::Error>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let path = request.uri().path();
        if path.starts_with("/tansiq.v1.Cluster/") || path == STREAMED_FILE_PATH {
            // Raft's own timeouts apply (a snapshot's last segment is
            // answered once the whole snapshot was checked and installed).
            // A streamed IATI file is consumed message by message (the
            // bytes of a body are not held until it ends, as this budget
            // assumes), waits at most 30 s per chunk and is planned two at
            // a time (node/src/interchange.rs).
            return Box::pin(self.inner.call(request));
        }
        let ip = peer_ip(&request);
        let budget = Arc::clone(&self.budget);
        let request = request.map(|inner| {
            Body::new(Budgeted {
                inner,
                budget,
                ip,
                held: 0,
                frames: MessageFrames::default(),
            })
        });
        let answer = self.inner.call(request);
        let limit = self.request_timeout;
        Box::pin(async move {
            match tokio::time::timeout(limit, answer).await {
                Ok(answered) => answered.map(undecodable_is_invalid_argument),
                Err(_) => Ok({
                    crate::exposition::EXPORTED.refused_by(Limit::RequestTime);
                    Status::deadline_exceeded(format!(
                    "the request was not received and answered within {} s (this node's limit per request)",
                    limit.as_secs()
                ))
                    .into_http()
                }),
            }
        })
    }
}

/// A request message that does not decode is the caller's error: tonic
/// answers INTERNAL ("failed to decode Protobuf message"), which tells a
/// client to retry; it becomes INVALID_ARGUMENT with the same message.
fn undecodable_is_invalid_argument(mut response: http::Response<Body>) -> http::Response<Body> {
    let headers = response.headers();
    let internal = headers
        .get("grpc-status")
        .is_some_and(|status| status.as_bytes() == b"13");
    let undecodable = headers.get("grpc-message").is_some_and(|message| {
        let message = message.as_bytes();
        message.starts_with(b"failed to decode") || message.starts_with(b"failed%20to%20decode")
    });
    if internal && undecodable {
        response.headers_mut().insert(
            "grpc-status",
            http::HeaderValue::from_static("3"), // INVALID_ARGUMENT
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_lengths_are_read_across_frames() {
        let mut frames = MessageFrames::default();
        let mut stream = vec![0, 0, 0, 0, 3, b'a', b'b', b'c', 0, 0, 1, 0, 0];
        stream.extend(vec![b'x'; 65_536]);
        // Cut anywhere, the same declared lengths come out.
        for cut in [1, 2, 5, 6, 9, 11, 4_000] {
            let mut frames_here = MessageFrames::default();
            let mut found = Vec::new();
            for piece in stream.chunks(cut) {
                found.extend(frames_here.declared_in(piece));
            }
            assert_eq!(found, vec![3, 65_536], "cut every {cut} bytes");
        }
        assert_eq!(frames.declared_in(&[0, 0, 0]), Vec::<usize>::new());
        assert_eq!(frames.declared_in(&[0, 7]), vec![7]);
    }

    #[test]
    fn an_address_cannot_take_more_than_its_share_nor_all_of_the_budget() {
        let limits = Limits {
            receiving_bytes_max: 100,
            receiving_bytes_per_ip_max: 60,
            ..Limits::default()
        };
        let budget = Budget::new(&limits);
        let (one, two, three): (IpAddr, IpAddr, IpAddr) = (
            "127.0.0.2".parse().expect("ip"),
            "127.0.0.3".parse().expect("ip"),
            "127.0.0.4".parse().expect("ip"),
        );
        budget.take(Some(one), 60).expect("its share");
        assert_eq!(
            budget
                .take(Some(one), 1)
                .expect_err("past its share")
                .code(),
            tonic::Code::ResourceExhausted
        );
        budget.take(Some(two), 40).expect("another address");
        assert!(
            budget.take(Some(three), 1).is_err(),
            "the whole budget is held"
        );
        budget.give(Some(one), 60);
        budget.take(Some(three), 50).expect("given back");
        assert_eq!(budget.held_bytes(), 90);
    }
}
