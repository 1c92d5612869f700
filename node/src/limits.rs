//! Every resource a client can hold on a node, and its limit, in one place
//! (README, "Limits", lists them with their defaults).
//!
//! What a client cannot exceed, whoever it is:
//! - connections: [`Limits::connections_max`] in all and
//!   [`Limits::connections_per_ip_max`] from one address (a new one past
//!   either is closed at once);
//! - the TLS handshake: [`Limits::tls_handshake_timeout`];
//! - streams: [`Limits::streams_per_connection_max`] per connection;
//! - time: a request must be answered (its message received and handled)
//!   within [`Limits::request_timeout`]; an idle connection is probed every
//!   [`Limits::keepalive_interval`] and closed when it does not answer
//!   within [`Limits::keepalive_timeout`];
//! - memory: request messages being received hold at most
//!   [`Limits::receiving_bytes_max`] bytes in all and
//!   [`Limits::receiving_bytes_per_ip_max`] from one address (past it the
//!   request is refused with RESOURCE_EXHAUSTED, see [`crate::budget`]);
//!   each message is at most [`tansiq_ledger::limits::REQUEST_BYTES_MAX`]; a log
//!   subscription buffers at most `SUBSCRIBE_BUFFER_ENTRIES` entries (one
//!   that does not read is paused and caught up from the store later), and
//!   at most [`Limits::subscribers_max`] subscriptions run at once.

use std::time::Duration;

/// The node's resource limits (defaults: [`Limits::default`]).
#[derive(Clone, Debug)]
pub struct Limits {
    pub connections_max: usize,
    pub connections_per_ip_max: usize,
    pub streams_per_connection_max: u32,
    pub tls_handshake_timeout: Duration,
    pub request_timeout: Duration,
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    pub receiving_bytes_max: usize,
    pub receiving_bytes_per_ip_max: usize,
    pub subscribers_max: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connections_max: 1024,
            connections_per_ip_max: 128,
            streams_per_connection_max: 128,
            tls_handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(20),
            receiving_bytes_max: 256 * 1024 * 1024,
            receiving_bytes_per_ip_max: 64 * 1024 * 1024,
            subscribers_max: 256,
        }
    }
}
