//! ooni-s3 against a real S3 server: `moto_server` on 127.0.0.1 (started per test), reached
//! directly or through a fault-injecting TCP proxy.
//!
//! `moto_server` must be on PATH (`pip install 'moto[server]'`); without it every test fails.
#![allow(clippy::unwrap_used)]

mod support;

mod conditional;
mod faults;
mod listing;
mod reading;
mod signing;
mod upload;
