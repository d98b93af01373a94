//! CPU and memory samples over a measurement window, read from `/proc`.
//!
//! A [`Snapshot`] holds the machine's busy and total jiffies (`/proc/stat`: busy is the sum of
//! user, nice, system, irq, softirq and steal over all cores; guest time is inside user) and the
//! CPU time (utime + stime) of every process of interest: each sethub process by role, every
//! `postgres` process (and, apart, the backends connected to the run's own database), RabbitMQ
//! (`beam.smp`), Redis (`redis-server`) and the load generator itself, whose receiver threads
//! (actix's, named `actix…`) are also counted apart. Two snapshots give the CPU each group used
//! in between ([`Snapshot::cpu_ms_since`]); a process that started in between counts from zero,
//! one that exited is lost (sethub's pooled database connections live as long as the run).
//!
//! Peak RSS is `VmHWM`, which [`reset_peak_rss`] resets (`/proc/PID/clear_refs`, value 5) at the
//! start of a window so that the peak is the window's own.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::measure::round;

/// Milliseconds per clock tick (`USER_HZ` is 100 on every Linux this runs on).
const MS_PER_TICK: f64 = 10.0;

/// What the sampler knows of the run: the sethub processes by role, and the database name.
#[derive(Default)]
pub(crate) struct Sampler {
    roles: Vec<(String, u32)>,
    database: Option<String>,
    /// pid → whether that postgres process serves the run's database (from its cmdline).
    own_backend: Mutex<HashMap<u32, bool>>,
}

/// CPU counters at one instant.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    /// Wall clock, µs since the epoch.
    pub(crate) at_us: u64,
    busy: u64,
    total: u64,
    /// pid → (group, ticks).
    procs: HashMap<u32, (String, u64)>,
    receiver_ticks: u64,
}

impl Sampler {
    pub(crate) fn new(roles: Vec<(String, u32)>, database: Option<String>) -> Self {
        Self {
            roles,
            database,
            own_backend: Mutex::new(HashMap::new()),
        }
    }

    /// Reads the machine's and every interesting process's CPU counters now.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let at_us = crate::sink::now_us();
        let (busy, total) = machine_ticks().unwrap_or((0, 0));
        let mut procs = HashMap::new();
        let me = std::process::id();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Snapshot {
                at_us,
                busy,
                total,
                ..Snapshot::default()
            };
        };
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Some((comm, ticks)) = proc_ticks(&format!("/proc/{pid}/stat")) else {
                continue;
            };
            let group = if pid == me {
                Some("loadgen".to_owned())
            } else if let Some((role, _)) = self.roles.iter().find(|(_, p)| *p == pid) {
                Some(role.clone())
            } else {
                match comm.as_str() {
                    "postgres" => Some(if self.is_own_backend(pid) {
                        "postgres_own_db".to_owned()
                    } else {
                        "postgres_other".to_owned()
                    }),
                    "beam.smp" => Some("rabbitmq".to_owned()),
                    c if c.starts_with("redis-server") => Some("redis".to_owned()),
                    _ => None,
                }
            };
            if let Some(group) = group {
                procs.insert(pid, (group, ticks));
            }
        }
        Snapshot {
            at_us,
            busy,
            total,
            procs,
            receiver_ticks: receiver_thread_ticks(),
        }
    }

    fn is_own_backend(&self, pid: u32) -> bool {
        let Some(db) = &self.database else {
            return false;
        };
        let mut cache = self.own_backend.lock().unwrap_or_else(|e| e.into_inner());
        *cache.entry(pid).or_insert_with(|| {
            // "postgres: sethub_app sethub_test_… 127.0.0.1(5432) idle"
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(db.as_str()))
                .unwrap_or(false)
        })
    }

    /// Resets the peak RSS of every sethub process (best effort); whether all resets worked.
    pub(crate) fn reset_peak_rss(&self) -> bool {
        self.roles
            .iter()
            .all(|(_, pid)| std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok())
    }

    /// `{role: MB}` of `VmHWM` (peak) and `VmRSS` (now) of each sethub process.
    pub(crate) fn memory(&self) -> (Value, Value) {
        let mut peak = serde_json::Map::new();
        let mut now = serde_json::Map::new();
        for (role, pid) in &self.roles {
            if let Some(mb) = status_mb(*pid, "VmHWM:") {
                peak.insert(role.clone(), json!(mb));
            }
            if let Some(mb) = status_mb(*pid, "VmRSS:") {
                now.insert(role.clone(), json!(mb));
            }
        }
        (Value::Object(peak), Value::Object(now))
    }
}

impl Snapshot {
    /// CPU milliseconds per group between `start` and `self`: `machine` (all cores' busy
    /// time), each sethub role, `postgres` (all its processes, split into `postgres_own_db`,
    /// the backends of this run's database, and `postgres_other`), `rabbitmq`, `redis`,
    /// `loadgen` (this process, receiver included) and `loadgen_receiver`.
    pub(crate) fn cpu_ms_since(&self, start: &Snapshot) -> BTreeMap<String, f64> {
        let mut out: BTreeMap<String, f64> = BTreeMap::new();
        out.insert(
            "machine".into(),
            self.busy.saturating_sub(start.busy) as f64 * MS_PER_TICK,
        );
        for (pid, (group, ticks)) in &self.procs {
            let before = start
                .procs
                .get(pid)
                .filter(|(g, _)| g == group)
                .map_or(0, |(_, t)| *t);
            let ms = ticks.saturating_sub(before) as f64 * MS_PER_TICK;
            *out.entry(group.clone()).or_insert(0.0) += ms;
            if group.starts_with("postgres_") {
                *out.entry("postgres".into()).or_insert(0.0) += ms;
            }
        }
        for group in ["postgres", "postgres_own_db", "rabbitmq", "redis"] {
            out.entry(group.into()).or_insert(0.0);
        }
        out.insert(
            "loadgen_receiver".into(),
            self.receiver_ticks.saturating_sub(start.receiver_ticks) as f64 * MS_PER_TICK,
        );
        out
    }

    /// The machine's busy share between `start` and `self`, in % of all cores.
    pub(crate) fn busy_pct_since(&self, start: &Snapshot) -> f64 {
        let total = self.total.saturating_sub(start.total);
        if total == 0 {
            return 0.0;
        }
        round(100.0 * self.busy.saturating_sub(start.busy) as f64 / total as f64)
    }
}

/// `{group: ms per SET}` from [`Snapshot::cpu_ms_since`] (3 decimals); empty without SETs.
pub(crate) fn per_set(cpu: &BTreeMap<String, f64>, sets: usize) -> Value {
    if sets == 0 {
        return json!({});
    }
    let map: serde_json::Map<String, Value> = cpu
        .iter()
        .map(|(k, ms)| {
            (
                k.clone(),
                json!((ms / sets as f64 * 1000.0).round() / 1000.0),
            )
        })
        .collect();
    Value::Object(map)
}

/// Busy and total jiffies of all cores from the first line of `/proc/stat`.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let at = |i: usize| fields.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal guest guest_nice
    let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
    Some((busy, busy + at(3) + at(4)))
}

/// The command name and utime + stime (ticks) of a `/proc/…/stat` file.
fn proc_ticks(path: &str) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // After the name: field 3 (state) is index 0; utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

/// CPU ticks of this process's receiver threads (actix's worker and system threads).
fn receiver_thread_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|t| proc_ticks(&format!("{}/stat", t.path().display())))
        .filter(|(comm, _)| comm.starts_with("actix"))
        .map(|(_, ticks)| ticks)
        .sum()
}

/// A `/proc/PID/status` line in kB as MB.
fn status_mb(pid: u32, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(round(kb / 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_counts_this_process_and_the_machine() {
        let sampler = Sampler::new(vec![("me".into(), std::process::id())], None);
        let a = sampler.snapshot();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert_ne!(x, 1);
        let b = sampler.snapshot();
        let cpu = b.cpu_ms_since(&a);
        assert!(cpu["machine"] >= 0.0);
        assert!(cpu.contains_key("loadgen"));
        assert!(b.at_us >= a.at_us);
        let (peak, now) = sampler.memory();
        assert!(peak["me"].as_f64().unwrap() > 0.0);
        assert!(now["me"].as_f64().unwrap() > 0.0);
    }
}
