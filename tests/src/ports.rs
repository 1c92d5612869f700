//! Ports for processes that must be told theirs before they start (cluster
//! members name each other; chromedriver takes `--port`).
//!
//! Binding port 0 and releasing it races: the kernel hands the same
//! ephemeral range (32768-60999 on Linux) to every other port-0 bind and to
//! the source port of every outgoing connection, and parallel tests open
//! thousands. Ports here come from below that range, which the kernel never
//! hands out by itself: each test process takes its own block (by its
//! process id), each call the next port of it that is free now.

use std::sync::atomic::{AtomicU32, Ordering};

/// The lowest port handed out.
const FIRST: u32 = 20_000;
/// Ports in each process's block.
const BLOCK: u32 = 300;
/// Blocks between [`FIRST`] and the ephemeral range.
const BLOCKS: u32 = (32_768 - FIRST) / BLOCK;

/// A loopback port nothing listens on now, outside the ephemeral range.
pub fn unclaimed_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = FIRST + (std::process::id() % BLOCKS) * BLOCK;
    for _ in 0..BLOCK {
        let port = base + NEXT.fetch_add(1, Ordering::Relaxed) % BLOCK;
        let port = u16::try_from(port).expect("below the ephemeral range");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("every port of {base}..{} is taken", base + BLOCK)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ports_are_below_the_ephemeral_range_distinct_and_free() {
        let ports: Vec<u16> = (0..20).map(|_| super::unclaimed_port()).collect();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        for port in ports {
            assert!((20_000..32_768).contains(&port), "{port}");
            std::net::TcpListener::bind(("127.0.0.1", port)).expect("free");
        }
    }

    #[test]
    fn a_port_in_use_is_skipped() {
        let first = super::unclaimed_port();
        // The port after it is listened on (here, or by something else):
        // it is not handed out.
        let _held = std::net::TcpListener::bind(("127.0.0.1", first + 1));
        let next = super::unclaimed_port();
        assert_ne!(next, first + 1);
        std::net::TcpListener::bind(("127.0.0.1", next)).expect("free");
    }
}
