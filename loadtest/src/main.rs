//! `loadtest`: see `loadtest --help` and docs/benchmarks.md.
//!
//! Exit status: 0 when the run had no errors (for `--find-max`: when a knee was found, whatever
//! errors ended the search), 2 when it finished with errors (the report is still written), 3 when `--verify` / `--verify-from` found an acknowledged change lost,
//! duplicated, unexpected or a gap in a log, 1 when it could not run at all.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = loadtest::Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadtest: cannot start the runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match runtime.block_on(loadtest::run(args)) {
        Ok(status) => std::process::ExitCode::from(status),
        Err(e) => {
            eprintln!("loadtest: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
