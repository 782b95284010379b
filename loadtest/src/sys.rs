//! The few operating-system facts the tool needs: its own file-descriptor limit, and a
//! process's resident memory and CPU time from `/proc` (Linux only; elsewhere they are absent
//! from the report rather than wrong).

/// Raise `RLIMIT_NOFILE` so that `wanted` descriptors fit: every session is a socket, and the
/// usual soft limit (1024) would stop a run at about a thousand sessions. The soft limit goes
/// to the hard limit; when the hard limit itself is below `wanted` it is raised too (up to the
/// kernel's `fs.nr_open`), which works only with `CAP_SYS_RESOURCE` (root, outside a sandbox
/// that drops it) and is silently skipped otherwise. Returns (soft, hard) after.
pub fn raise_nofile_limit(wanted: u64) -> std::io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct we own, and we check its return value.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if lim.rlim_max < wanted {
        let ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(wanted);
        let hard = wanted.min(ceiling).max(lim.rlim_max);
        let raised = libc::rlimit {
            rlim_cur: hard,
            rlim_max: hard,
        };
        // SAFETY: setrlimit only reads the struct. Raising the hard limit needs
        // CAP_SYS_RESOURCE; without it the call fails with EPERM and nothing changes.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct; raising the soft limit up to the hard limit
        // is always allowed for an unprivileged process.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        lim = raised;
    }
    Ok((lim.rlim_cur, lim.rlim_max))
}

/// How many file descriptors a process has open (entries of `/proc/<pid>/fd`).
pub fn open_fds(pid: u32) -> Option<u64> {
    let entries = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(entries.count() as u64)
}

/// Resident set size of a process in bytes (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    status_kib(&format!("/proc/{pid}/status"), "VmRSS:").map(|kib| kib * 1024)
}

/// Peak resident set size of a process in bytes (`VmHWM`).
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    status_kib(&format!("/proc/{pid}/status"), "VmHWM:").map(|kib| kib * 1024)
}

/// This process's own resident set size in bytes.
pub fn own_rss_bytes() -> Option<u64> {
    status_kib("/proc/self/status", "VmRSS:").map(|kib| kib * 1024)
}

fn status_kib(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    parse_status_kib(&text, key)
}

fn parse_status_kib(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
}

/// The 1-minute load average (`/proc/loadavg`): the machine is shared, so a report says how
/// busy it was.
pub fn load_avg_1m() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// User + system CPU seconds a process has used (`/proc/<pid>/stat`).
pub fn cpu_secs(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks <= 0 {
        return None;
    }
    parse_stat_ticks(&text).map(|t| t as f64 / ticks as f64)
}

fn parse_stat_ticks(text: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces: count fields after
    // the last ')'. Field 3 (state) is index 0 there, so utime (14) and stime (15) are 11, 12.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status() {
        let text = "Name:\tserver\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(parse_status_kib(text, "VmRSS:"), Some(1024));
        assert_eq!(parse_status_kib(text, "VmHWM:"), Some(2048));
        assert_eq!(parse_status_kib(text, "VmSwap:"), None);
    }

    #[test]
    fn parses_proc_stat_with_spaces_in_the_name() {
        let text = "42 (my server) S 1 2 3 4 5 6 7 8 9 10 300 200 0 0 20 0 1 0";
        assert_eq!(parse_stat_ticks(text), Some(500));
    }

    #[test]
    fn reads_its_own_process() {
        assert!(own_rss_bytes().is_some_and(|b| b > 0));
        assert!(cpu_secs(None).is_some());
        assert!(raise_nofile_limit(64).is_ok_and(|(soft, hard)| soft == hard && soft >= 64));
        assert!(open_fds(std::process::id()).is_some_and(|n| n >= 3));
    }
}
