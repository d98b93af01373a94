//! What the load generator measures about the processes and the machine: percentiles, peak
//! RSS and CPU time of a process (from `/proc`), and how busy the host was.

use serde_json::{Value, json};

/// `{p50, p95, p99, max}` of `values` in ms (nearest rank), or null when empty.
pub fn percentiles(values: &mut [f64]) -> Value {
    if values.is_empty() {
        return Value::Null;
    }
    values.sort_by(f64::total_cmp);
    let rank = |q: f64| {
        let i = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
        round(values[i])
    };
    json!({
        "p50": rank(0.50),
        "p95": rank(0.95),
        "p99": rank(0.99),
        "max": round(values[values.len() - 1]),
    })
}

pub fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// VmHWM (peak resident set) of a process, in MB.
pub fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(round(kb / 1024.0))
}

/// CPU time (user + system) a process used so far, in seconds (`/proc/PID/stat`, clock
/// ticks of 1/100 s as on every Linux this runs on).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start with field 3, `state`;
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(round((utime + stime) / 100.0))
}

/// Busy and total jiffies of the whole machine (`/proc/stat`), to tell whether a run was
/// bound by the CPU.
pub fn host_cpu() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().sum();
    // idle and iowait
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// The share of the machine's CPU that was busy between two [`host_cpu`] samples, in %.
pub fn busy_pct(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> Option<f64> {
    let ((b0, t0), (b1, t1)) = (before?, after?);
    (t1 > t0).then(|| round(100.0 * (b1 - b0) as f64 / (t1 - t0) as f64))
}
