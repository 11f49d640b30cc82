//! `ooni-pipeline`: OONI's raw measurement archive → normalized Parquet → failure rates.
//! Everything is in the `ooni_cli` library (the command line) and `ooni-run` (the run).

/// mimalloc rather than glibc's malloc: the per-record path allocates many small
/// strings and vectors (measured with `cargo bench -p ooni-benches --features mimalloc`:
/// normalize +6%, Arrow batches +40%, Parquet encoding +30% on one core).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ooni_cli::main(&ooni_run::Quiet)
}
