//! Linking rows through `network_events` when transaction ids are missing (legacy netx,
//! 2020 → 2022 for the urlgetter-based tests and web_connectivity 0.4).
//!
//! Legacy netx writes each list entry and its network event from the same trace event, so
//! a `tcp_connect` entry and its `connect` event share address and `t`, a `tls_handshakes`
//! entry and its `tls_handshake_done` event share `t`, and a DNS query and its
//! `resolve_done` event share `t`. Each urlgetter session appends its events contiguously,
//! so two windows can be read off the event list:
//!
//! * **TLS window** (oonidata's `find_tls_handshake_events_without_transaction_id`): a
//!   `connect` followed, before any other `connect`, by the `tls_handshake_done` of a TLS
//!   entry. The connect belongs to that handshake (hence to its SNI), and the handshake to
//!   the connect's `ip:port`.
//! * **Resolve window**: the `resolve_done` nearest before a `connect`, not separated from it
//!   by a `resolve_start` or `http_transaction_start` (which open a new lookup or session).
//!   The caller accepts it only when exactly one host name was resolved at that `t` and its
//!   answers contain the connect's IP, so a session without a lookup (an IP-literal URL) can
//!   never inherit the previous session's host.

use std::collections::{HashMap, VecDeque};

use crate::host::{Address, parse_address};
use crate::raw::{NetworkEvent, OrNone};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Connect,
    TlsHandshakeDone,
    ResolveStart,
    ResolveDone,
    HttpTransactionStart,
    Other,
}

#[derive(Debug)]
struct Event {
    op: Op,
    address: Option<Address>,
    t: Option<f64>,
}

/// The event list, indexed for the lookups above.
#[derive(Debug, Default)]
pub(crate) struct NetEvents {
    events: Vec<Event>,
}

/// `(ip, port, t)` as a hashable key.
type ConnectKey = (String, Option<u16>, Option<u64>);

impl NetEvents {
    pub(crate) fn new(list: &[OrNone<NetworkEvent<'_>>]) -> Self {
        let events = list
            .iter()
            .filter_map(|e| e.0.as_ref())
            .map(|e| Event {
                op: match e.operation.get().unwrap_or("") {
                    "connect" => Op::Connect,
                    "tls_handshake_done" => Op::TlsHandshakeDone,
                    "resolve_start" => Op::ResolveStart,
                    "resolve_done" => Op::ResolveDone,
                    "http_transaction_start" => Op::HttpTransactionStart,
                    _ => Op::Other,
                },
                address: e.address.get().and_then(parse_address),
                t: e.t.0,
            })
            .collect();
        NetEvents { events }
    }

    /// Pairs each `tcp_connect` entry (`ip`, `port`, `t`) with its `connect` event, in
    /// order of occurrence among equal keys.
    pub(crate) fn pair_connects(
        &self,
        rows: &[(String, Option<u16>, Option<f64>)],
    ) -> Vec<Option<usize>> {
        let mut by_key: HashMap<ConnectKey, VecDeque<usize>> = HashMap::new();
        for (i, e) in self.events.iter().enumerate() {
            if e.op != Op::Connect {
                continue;
            }
            if let Some(a) = &e.address {
                by_key
                    .entry((a.ip.clone(), a.port, e.t.map(f64::to_bits)))
                    .or_default()
                    .push_back(i);
            }
        }
        rows.iter()
            .map(|(ip, port, t)| {
                by_key
                    .get_mut(&(ip.clone(), *port, t.map(f64::to_bits)))
                    .and_then(VecDeque::pop_front)
            })
            .collect()
    }

    /// Pairs each TLS entry (by its `t`) with its `tls_handshake_done` event, in order of
    /// occurrence among equal times (the way oonidata resolves duplicate times).
    pub(crate) fn pair_tls(&self, ts: &[Option<f64>]) -> Vec<Option<usize>> {
        let mut by_t: HashMap<u64, VecDeque<usize>> = HashMap::new();
        for (i, e) in self.events.iter().enumerate() {
            if let (Op::TlsHandshakeDone, Some(t)) = (e.op, e.t) {
                by_t.entry(t.to_bits()).or_default().push_back(i);
            }
        }
        ts.iter()
            .map(|t| {
                t.and_then(|t| by_t.get_mut(&t.to_bits()))
                    .and_then(VecDeque::pop_front)
            })
            .collect()
    }

    /// The `connect` that opens the TLS window ending at `done`.
    pub(crate) fn connect_before_tls_done(&self, done: usize) -> Option<usize> {
        for j in (0..done).rev() {
            match self.events[j].op {
                Op::Connect => return Some(j),
                Op::TlsHandshakeDone => return None,
                _ => {}
            }
        }
        None
    }

    /// The `t` of the `resolve_done` that opens the resolve window containing `connect`.
    pub(crate) fn resolve_done_before(&self, connect: usize) -> Option<f64> {
        for j in (0..connect).rev() {
            match self.events[j].op {
                Op::ResolveDone => return self.events[j].t,
                Op::ResolveStart | Op::HttpTransactionStart => return None,
                _ => {}
            }
        }
        None
    }

    /// The address of an event.
    pub(crate) fn address(&self, i: usize) -> Option<&Address> {
        self.events.get(i).and_then(|e| e.address.as_ref())
    }
}
