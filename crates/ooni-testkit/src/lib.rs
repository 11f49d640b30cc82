//! Test support shared by the S3 tests (`ooni-s3`) and the end-to-end tests (`ooni-cli`):
//! a real S3 server on loopback and a proxy that breaks connections on purpose.
//!
//! - [`Moto`]: a `moto_server` child process on a free 127.0.0.1 port, killed on drop;
//! - [`Seeder`]: a client with dummy *signed* credentials that creates public buckets and
//!   uploads fixtures (the code under test reads them anonymously);
//! - [`Proxy`]: an HTTP/1.1 proxy on 127.0.0.1 that injects [`Fault`]s (503 Slow Down,
//!   resets, bodies cut or stalled mid-way) and records the requests it saw.
//!
//! Nothing here talks to anything but 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod moto;
mod proxy;
mod seed;

pub use moto::{Moto, answers};
pub use proxy::{Fault, Proxy, Seen};
pub use seed::Seeder;
