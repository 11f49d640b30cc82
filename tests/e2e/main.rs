//! End-to-end tests: the real `ooni-pipeline` binary on the embedded sample
//! (`examples/bucket`), its output read back with the readers analysts use.
//!
//! Modules:
//! - `sample`: a run over the whole sample — conservation, every fixture accounted for,
//!   duplicates written once, OONI's trivial_id;
//! - `corrupted`: a damaged copy of the sample (truncated gzip, garbage, a 20 MB line, a
//!   wrong-typed probe_asn) still balances, and every bad record lands in rejects/;
//! - `conservation`: property test: generated damaged buckets balance line by line;
//! - `azerbaijan`: per-stage failure rates on the synthetic Azerbaijan-2020 scenario;
//! - `nightly`: SIGKILL at several points then rerun, idempotent reruns, late uploads,
//!   hostile partition values;
//! - `cans`: legacy LZ4 cans fill jsonl/ gaps without duplicating it;
//! - `s3`: the same runs from a real S3 server (moto) on 127.0.0.1, through injected faults;
//! - `readers`: DuckDB, pyarrow and polars (Python) read the output hive-partitioned;
//! - `promises`: what nightly operation guarantees, tried as a hostile user and a
//!   Kubernetes operator would (user files, container locks, SIGTERM, damaged archives,
//!   bounded rejects, manifest checks, usage errors, late uploads over many nights);
//! - `report`: blocking events on the Azerbaijan scenario, the country report in headless
//!   Chromium, CSV export, and the analyst notebook executed against the output;
//! - `docs`: the documents name only files that exist, and `docs/tables.md` every column
//!   of the six tables a run writes, with its type;
//! - `shards`: `run --shard I/N` on four concurrent processes and `aggregate` give one
//!   unsharded run's tables; killed, doubled and missing shards.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

mod azerbaijan;
mod cans;
mod conservation;
mod corrupted;
mod docs;
mod nightly;
mod promises;
mod readers;
mod report;
mod s3;
mod sample;
mod shards;
