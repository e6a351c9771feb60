//! The standard `process_*` metrics (as Prometheus client libraries export them), read from
//! `/proc/self` at scrape time. Missing files (not Linux) simply leave them out.
use std::fmt::Write as _;
use std::sync::OnceLock;

fn clock_ticks() -> f64 {
    // USER_HZ is 100 on every Linux architecture kdns builds for.
    100.0
}

fn page_size() -> f64 {
    4096.0
}

/// Seconds since the Unix epoch when the process started (`starttime` in /proc/self/stat is in
/// clock ticks since boot).
fn start_time(stat: &[&str]) -> Option<f64> {
    static BOOT: OnceLock<Option<f64>> = OnceLock::new();
    let boot = (*BOOT.get_or_init(|| {
        let s = std::fs::read_to_string("/proc/stat").ok()?;
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    }))?;
    let ticks: f64 = stat.get(19)?.parse().ok()?;
    Some(boot + ticks / clock_ticks())
}

pub(crate) fn render(out: &mut String) {
    let Ok(raw) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command name, which is in parentheses and may contain spaces.
    let Some(rest) = raw.rfind(')').map(|i| &raw[i + 2..]) else {
        return;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state); utime is field 14, stime 15, vsize 23, rss 24.
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    if let (Some(u), Some(s)) = (num(11), num(12)) {
        let _ = writeln!(out, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {}", (u + s) / clock_ticks());
    }
    if let Some(v) = num(20) {
        let _ = writeln!(out, "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes {v}");
    }
    if let Some(v) = num(21) {
        let _ = writeln!(out, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {}", v * page_size());
    }
    if let Some(t) = start_time(&f) {
        let _ = writeln!(out, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {t}");
    }
    if let Ok(d) = std::fs::read_dir("/proc/self/fd") {
        let _ = writeln!(out, "# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\nprocess_open_fds {}", d.count());
    }
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
        if let Some(v) = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse::<f64>().ok())
        {
            let _ = writeln!(out, "# HELP process_max_fds Maximum number of open file descriptors.\n# TYPE process_max_fds gauge\nprocess_max_fds {v}");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_proc_self() {
        let mut s = String::new();
        super::render(&mut s);
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(s.contains("process_resident_memory_bytes "), "{s}");
            assert!(s.contains("process_cpu_seconds_total "), "{s}");
            assert!(s.contains("process_start_time_seconds "), "{s}");
        }
    }
}
