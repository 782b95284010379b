//! Smoke tests (not benchmarks): the built `loadtest` binary against the in-process echo
//! server, and against the real server booted on 127.0.0.1:0 with a fresh SQLite database.
//! They assert zero errors and a report with the contract's fields, that `--find-max` steps on
//! the same sockets and reports a knee, and that `--record` / `--verify-from` finds nothing
//! after a clean run — and does find the one todo deleted behind its back. The timed runs live
//! in docs/benchmarks.md.

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

/// The real server on 127.0.0.1:0 with a fresh SQLite database in `dir`; its base URL.
async fn boot_server(dir: &Path) -> anyhow::Result<(server::app::App, String)> {
    let config =
        server::config::Config::for_tests(&format!("sqlite:{}", dir.join("smoke.db").display()));
    let app = server::app::App::spawn(config).await?;
    let url = format!("http://{}", app.addr);
    Ok((app, url))
}

fn path_arg(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
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
    let (_app, url) = boot_server(&dir).await?;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_max_steps_on_the_same_sockets() -> anyhow::Result<()> {
    let dir = scratch_dir("find-max")?;
    let (_app, url) = boot_server(&dir).await?;
    let (report, plot) = (dir.join("report.json"), dir.join("plot.svg"));
    // Two tiny steps (20 then 25 commands/s over 20 sessions). The bound is generous: this
    // checks the mechanics on a shared, debug-built machine, not the server's speed.
    let out = run_loadtest(&[
        "--url",
        &url,
        "--sessions",
        "20",
        "--find-max",
        "--start-rate",
        "20",
        "--max-rate",
        "25",
        "--step-secs",
        "1.5",
        "--p99-bound-ms",
        "5000",
        "--sample-every",
        "1",
        "--quiet",
        "--report",
        path_arg(&report),
        "--plot",
        path_arg(&plot),
    ])
    .await?;
    assert!(out.status.success(), "{}", explain(&out));
    let json = read_report(&report)?;
    assert_eq!(json["errors"], 0, "{}", json["errors_by_kind"]);
    assert_eq!(json["mode"], "find_max");
    let steps = json["steps"].as_array().cloned().unwrap_or_default();
    assert_eq!(steps.len(), 2, "{steps:?}");
    for (step, offered) in steps.iter().zip([20.0, 25.0]) {
        assert_eq!(step["offered_cmds_per_sec"], offered);
        assert_eq!(step["passed"], true, "{step}");
        assert!(step["sent"].as_u64().unwrap_or(0) > 0);
        assert_eq!(step["acks"], step["sent"]);
        assert_eq!(step["timeouts"], 0);
        assert!(step["ack_ms"]["p99"].is_f64());
    }
    // Both steps ran on the sockets opened once.
    assert_eq!(json["connected"], 20);
    assert!(json["connect_ms"]["count"] == 20);
    let knee = json["knee_cmds_per_sec"].as_f64().unwrap_or(0.0);
    assert!(knee > 10.0 && knee < 40.0, "knee {knee}");
    assert!(
        !json["samples"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .is_empty()
    );
    let svg = std::fs::read_to_string(&plot)?;
    assert!(
        svg.contains("rate per step") && svg.contains("open sockets"),
        "not the step and time-series panels"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_then_verify_finds_a_todo_deleted_behind_its_back() -> anyhow::Result<()> {
    let dir = scratch_dir("verify")?;
    let (_app, url) = boot_server(&dir).await?;
    let (record, report, again) = (
        dir.join("record.jsonl"),
        dir.join("report.json"),
        dir.join("verify.json"),
    );
    // 2 commands/s for 2.2 s: each session sends 4 or 5 commands of its add → complete →
    // delete cycle, so it ends with a todo still there.
    let out = run_loadtest(&[
        "--url",
        &url,
        "--sessions",
        "20",
        "--duration",
        "2.2",
        "--rate",
        "2",
        "--record",
        path_arg(&record),
        "--verify",
        "--quiet",
        "--report",
        path_arg(&report),
    ])
    .await?;
    assert!(out.status.success(), "{}", explain(&out));
    let json = read_report(&report)?;
    let v = &json["verification"];
    assert_eq!(v["findings"], 0, "{v}");
    assert_eq!(v["users_checked"], 10);
    assert!(v["acked_adds"].as_u64().unwrap_or(0) >= 20, "{v}");
    assert!(v["todos_expected"].as_u64().unwrap_or(0) >= 1, "{v}");
    assert_eq!(v["users_replayed"], 10);

    // Delete one acknowledged, live todo through the REST API, as its owner.
    let lines: Vec<Value> = std::fs::read_to_string(&record)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let deleted: Vec<i64> = lines
        .iter()
        .filter(|l| l["op"] == "delete")
        .filter_map(|l| l["todo"].as_i64())
        .collect();
    let live = lines
        .iter()
        .find(|l| l["op"] == "add" && !deleted.contains(&l["todo"].as_i64().unwrap_or(0)))
        .ok_or_else(|| anyhow::anyhow!("no live todo in the record"))?;
    assert!(
        live["seq"].is_i64(),
        "the add's event seq was recorded: {live}"
    );
    let user = live["user"].clone();
    let email = lines
        .iter()
        .find(|l| l["op"] == "user" && l["user"] == user)
        .and_then(|l| l["email"].as_str())
        .ok_or_else(|| anyhow::anyhow!("no user line"))?;
    let target = loadtest::prep::Target::parse(&url)?;
    let client = loadtest::prep::http_client(1)?;
    let token = loadtest::prep::sign_in(&client, &target, email, "loadtest-password", None)
        .await
        .map_err(|e| anyhow::anyhow!("login: {e}"))?;
    let id = live["todo"].as_i64().unwrap_or(0);
    let resp = client
        .delete(target.base.join(&format!("api/todos/{id}"))?)
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 204);

    let out = run_loadtest(&[
        "--url",
        &url,
        "--verify-from",
        path_arg(&record),
        "--report",
        path_arg(&again),
    ])
    .await?;
    assert_eq!(out.status.code(), Some(3), "{}", explain(&out));
    let v = read_report(&again)?;
    assert_eq!(v["lost"], 1, "{v}");
    assert_eq!(v["findings"], 1, "{v}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
