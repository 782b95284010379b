//! `--record`: what the run changed, as JSON lines, so that `--verify` (right after the run) or
//! `--verify-from` (later, e.g. after the server was killed and restarted) can check that every
//! acknowledged change was kept.
//!
//! One line per fact: the run (its title tag and user prefix), each user, each acknowledged
//! change with the `seq` of its event (the ack and the sender's own copy of the event arrive in
//! either order; `seq` is null when the event never came), each change whose answer never came
//! (`unknown`: it may or may not have happened) or was an error (`failed`: it must not have
//! happened), and the highest `seq` each socket saw. Late acks (after `--timeout`) stay
//! `unknown`: the verification accepts either outcome for them.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// Which todo change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Add,
    Complete,
    Delete,
}

/// One line of the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Record {
    /// First line. Every todo title of the run ends with `.<tag>`, so the verification tells
    /// this run's todos from those of earlier runs with the same users.
    Run {
        tag: String,
        prefix: String,
        users: u64,
        urls: Vec<String>,
        started_at: String,
    },
    User {
        user: usize,
        email: String,
    },
    Add {
        user: usize,
        todo: i64,
        title: String,
        seq: Option<i64>,
    },
    Complete {
        user: usize,
        todo: i64,
        seq: Option<i64>,
    },
    Delete {
        user: usize,
        todo: i64,
        seq: Option<i64>,
    },
    /// Sent, never answered.
    Unknown {
        user: usize,
        change: Change,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        todo: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    /// Answered with an `error` frame.
    Failed {
        user: usize,
        change: Change,
        code: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        todo: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    /// The highest `seq` one socket of the user saw (its welcome's or a later event's).
    Seen {
        user: usize,
        seq: i64,
    },
}

/// The writer all sessions share. Lines are buffered; a write error is counted, not fatal to
/// the load, and makes [`Recorder::finish`] fail.
pub struct Recorder {
    out: Mutex<BufWriter<File>>,
    lines: AtomicU64,
    write_errors: AtomicU64,
}

impl Recorder {
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file = File::create(path)
            .with_context(|| format!("creating the record {}", path.display()))?;
        Ok(Self {
            out: Mutex::new(BufWriter::with_capacity(1 << 16, file)),
            lines: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
        })
    }

    pub fn write(&self, record: &Record) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let ok = serde_json::to_writer(&mut *out, record).is_ok() && out.write_all(b"\n").is_ok();
        let counter = if ok { &self.lines } else { &self.write_errors };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Flush; the number of lines written.
    pub fn finish(&self) -> anyhow::Result<u64> {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.flush().context("flushing the record")?;
        let failed = self.write_errors.load(Ordering::Relaxed);
        if failed > 0 {
            anyhow::bail!("{failed} record lines could not be written");
        }
        Ok(self.lines.load(Ordering::Relaxed))
    }
}

/// Read a record file back, line by line (a truncated last line, as a killed run leaves, is
/// skipped and counted).
pub fn read(path: &Path) -> anyhow::Result<(Vec<Record>, u64)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the record {}", path.display()))?;
    let mut records = Vec::new();
    let mut bad = 0u64;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str(line) {
            Ok(r) => records.push(r),
            Err(_) => bad += 1,
        }
    }
    Ok((records, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("loadtest-record-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("r.jsonl");
        let rec = Recorder::create(&path)?;
        let lines = [
            Record::Add {
                user: 3,
                todo: 17,
                title: "lt3.0.1.abc".into(),
                seq: Some(5),
            },
            Record::Unknown {
                user: 3,
                change: Change::Delete,
                todo: Some(17),
                title: None,
            },
        ];
        for l in &lines {
            rec.write(l);
        }
        assert_eq!(rec.finish()?, 2);
        let text = std::fs::read_to_string(&path)?;
        assert!(
            text.starts_with(r#"{"op":"add","user":3,"todo":17,"title":"lt3.0.1.abc","seq":5}"#)
        );
        assert!(text.contains(r#"{"op":"unknown","user":3,"change":"delete","todo":17}"#));
        std::fs::write(&path, text + "{\"op\":\"se")?;
        let (back, bad) = read(&path)?;
        assert_eq!((back.as_slice(), bad), (lines.as_slice(), 1));
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
