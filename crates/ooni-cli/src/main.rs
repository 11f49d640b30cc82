//! `ooni-pipeline`: OONI's raw measurement archive → normalized Parquet → failure rates.
//! Everything is in the `ooni_cli` library (the command line) and `ooni-run` (the run).

fn main() -> std::process::ExitCode {
    ooni_cli::main(&ooni_run::Quiet)
}
