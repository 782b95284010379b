//! `loadtest`: see `loadtest --help` and docs/benchmarks.md.
//!
//! Exit status: 0 when the run had no errors, 2 when it finished with errors (the report is
//! still written), 1 when it could not run at all.

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
        Ok(report) => {
            let echo_errors = report.echo_baseline.as_ref().map_or(0, |e| e.errors);
            if report.run.errors == 0 && echo_errors == 0 {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("loadtest: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
