//! Smoke tests (not benchmarks): the built `loadtest` binary against the in-process echo
//! server, and against the real server booted on 127.0.0.1:0 with a fresh SQLite database.
//! They assert zero errors and a report with the contract's fields; the timed runs live in
//! docs/benchmarks.md.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

fn scratch_dir(name: &str) -> anyhow::Result<PathBuf> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let dir = std::env::temp_dir().join(format!("loadtest-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn run_loadtest(args: &[&str]) -> anyhow::Result<Output> {
    // Bounded: the tool stops by itself after ramp + duration + drain; the outer timeout only
    // turns a hang into a failure instead of a stuck CI job.
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(args)
        .kill_on_drop(true)
        .output();
    Ok(tokio::time::timeout(std::time::Duration::from_secs(120), child).await??)
}

fn read_report(path: &Path) -> anyhow::Result<Value> {
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

/// The contract's fields, with `P` = {p50, p95, p99, max} as numbers.
fn assert_well_formed(report: &Value, sessions: u64) {
    for key in [
        "sessions",
        "connected",
        "errors",
        "duration_secs",
        "messages_sent",
        "acks_received",
    ] {
        assert!(report[key].is_number(), "{key} missing or not a number");
    }
    for key in ["connect_ms", "ack_ms", "fanout_ms", "chat_first_token_ms"] {
        for p in ["p50", "p95", "p99", "max"] {
            assert!(report[key][p].is_f64(), "{key}.{p} is not a float");
        }
    }
    assert_eq!(report["sessions"], sessions);
    assert_eq!(report["connected"], sessions, "not every session connected");
    assert_eq!(report["errors"], 0, "errors: {}", report["errors_by_kind"]);
    assert!(report["messages_sent"].as_u64().unwrap_or(0) > 0);
    assert_eq!(report["acks_received"], report["messages_sent"]);
    assert!(report["ack_ms"]["count"].as_u64().unwrap_or(0) > 0);
    assert!(report["fanout_ms"]["count"].as_u64().unwrap_or(0) > 0);
    assert_eq!(report["fanout_received"], report["fanout_expected"]);
}

fn explain(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn echo_baseline_alone() -> anyhow::Result<()> {
    let dir = scratch_dir("echo")?;
    let report = dir.join("report.json");
    let plot = dir.join("plot.svg");
    let out = run_loadtest(&[
        "--echo-baseline",
        "--sessions",
        "40",
        "--duration",
        "2",
        "--rate",
        "2",
        "--chat-fraction",
        "0.25",
        "--quiet",
        "--report",
        report.to_str().unwrap_or_default(),
        "--plot",
        plot.to_str().unwrap_or_default(),
    ])
    .await?;
    assert!(out.status.success(), "{}", explain(&out));
    let json = read_report(&report)?;
    assert_well_formed(&json, 40);
    assert_eq!(json["target"], "echo");
    assert!(json["chat_first_token_ms"]["count"].as_u64().unwrap_or(0) > 0);
    let svg = std::fs::read_to_string(&plot)?;
    assert!(
        svg.starts_with("<svg") && svg.contains("ack (send"),
        "not the plot"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_sessions_against_the_server() -> anyhow::Result<()> {
    let dir = scratch_dir("server")?;
    let config =
        server::config::Config::for_tests(&format!("sqlite:{}", dir.join("smoke.db").display()));
    let app = server::app::App::spawn(config).await?;
    let url = format!("http://{}", app.addr);
    let report = dir.join("report.json");
    let pid = std::process::id().to_string();
    let out = run_loadtest(&[
        "--url",
        &url,
        "--echo-baseline",
        "--sessions",
        "100",
        "--duration",
        "10",
        "--rate",
        "1",
        "--chat-fraction",
        "0.1",
        "--server-pid",
        &pid,
        "--quiet",
        "--report",
        report.to_str().unwrap_or_default(),
    ])
    .await?;
    assert!(out.status.success(), "{}", explain(&out));
    let json = read_report(&report)?;
    assert_well_formed(&json, 100);
    assert_eq!(json["target"], "server");
    assert!(json["server_rss_bytes"].as_u64().unwrap_or(0) > 0);
    // 5 users chat with the offline assistant.
    assert!(json["chat_first_token_ms"]["count"].as_u64().unwrap_or(0) > 0);
    assert!(json["echo_baseline"]["ack_ms"]["p99"].is_f64());
    assert!(json["ack_p99_vs_echo"].is_f64());
    // Register-or-login: a second run with the same users logs them in again.
    let again = run_loadtest(&[
        "--url",
        &url,
        "--sessions",
        "10",
        "--duration",
        "1",
        "--quiet",
    ])
    .await?;
    assert!(again.status.success(), "{}", explain(&again));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
