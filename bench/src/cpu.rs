//! CPU accounting from `/proc` (Linux only): how much CPU went to this process's threads by thread
//! name, to one PostgreSQL cluster's processes, and to the whole machine over an interval. This is
//! how a benchmark on a shared machine tells its own cost from its neighbours' noise.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// Clock ticks per second of `/proc` CPU times. `USER_HZ` is 100 on every Linux architecture we run
/// on; reading it with `sysconf` would need libc for no gain.
const TICKS_PER_SEC: f64 = 100.0;

/// CPU counters at one instant, in clock ticks.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// This process's threads, summed by thread name.
    pub threads: BTreeMap<String, u64>,
    /// The postmaster and its children.
    pub postgres: u64,
    /// All CPUs: ticks spent busy (not idle, not iowait).
    pub machine_busy: u64,
    /// All CPUs: all ticks.
    pub machine_total: u64,
}

/// CPU used between two snapshots, in seconds.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub threads: BTreeMap<String, f64>,
    pub postgres: f64,
    pub machine_busy: f64,
    /// CPU-seconds available on the machine over the interval (wall time × CPUs).
    pub machine_total: f64,
}

/// (comm, ppid, utime + stime) from a `/proc/<pid>/stat` line.
fn parse_stat(stat: &str) -> Option<(&str, u32, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?;
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // After the comm: state, ppid, ..., utime (14th field of the line), stime (15th).
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, ppid, utime + stime))
}

/// (busy, total) ticks from the `cpu` line of `/proc/stat`.
fn parse_machine(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice are inside user/nice]
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// All CPUs' (busy, total) ticks since boot.
pub fn machine() -> Option<(u64, u64)> {
    parse_machine(&fs::read_to_string("/proc/stat").ok()?)
}

/// The postmaster's pid from `<data_dir>/postmaster.pid`.
fn postmaster_pid(data_dir: &Path) -> Option<u32> {
    fs::read_to_string(data_dir.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Reads the counters now. Missing pieces (no `/proc`, a process that exited meanwhile) count as 0.
pub fn snapshot(pg_data_dir: &Path) -> Snapshot {
    let mut snap = Snapshot::default();
    if let Ok(tasks) = fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Ok(stat) = fs::read_to_string(task.path().join("stat"))
                && let Some((comm, _, ticks)) = parse_stat(&stat)
            {
                *snap.threads.entry(comm.to_string()).or_default() += ticks;
            }
        }
    }
    if let Some(master) = postmaster_pid(pg_data_dir)
        && let Ok(procs) = fs::read_dir("/proc")
    {
        for p in procs.flatten() {
            let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Ok(stat) = fs::read_to_string(p.path().join("stat"))
                && let Some((_, ppid, ticks)) = parse_stat(&stat)
                && (pid == master || ppid == master)
            {
                snap.postgres += ticks;
            }
        }
    }
    if let Some((busy, total)) = machine() {
        snap.machine_busy = busy;
        snap.machine_total = total;
    }
    snap
}

impl Snapshot {
    /// CPU used from `before` to `self`. Processes that started or ended in between are counted
    /// only for the part both snapshots saw (a backend that exited is missed).
    pub fn since(&self, before: &Snapshot) -> Usage {
        let secs = |after: u64, before: u64| after.saturating_sub(before) as f64 / TICKS_PER_SEC;
        Usage {
            threads: self
                .threads
                .iter()
                .map(|(name, &t)| {
                    let b = before.threads.get(name).copied().unwrap_or(0);
                    (name.clone(), secs(t, b))
                })
                .collect(),
            postgres: secs(self.postgres, before.postgres),
            machine_busy: secs(self.machine_busy, before.machine_busy),
            machine_total: secs(self.machine_total, before.machine_total),
        }
    }
}

impl Usage {
    /// CPU-seconds of this process's threads whose name starts with `prefix`.
    pub fn threads_named(&self, prefix: &str) -> f64 {
        self.threads
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(_, s)| s)
            .sum()
    }

    /// CPU-seconds of all this process's threads.
    pub fn process(&self) -> f64 {
        self.threads.values().sum()
    }
}

/// The CPU's model name from `/proc/cpuinfo`.
pub fn model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// How busy the whole machine was, in percent, over the next `over`.
pub async fn busy_percent(over: Duration) -> f64 {
    let before = machine();
    tokio::time::sleep(over).await;
    match (before, machine()) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
            100.0 * b1.saturating_sub(b0) as f64 / (t1 - t0) as f64
        }
        _ => 0.0,
    }
}

/// Waits until the machine was less than `limit` percent busy over one second, or gives up after
/// `max_wait`: on a shared machine, neighbours' builds otherwise dominate. Returns the last
/// second's busy share and the time waited.
pub async fn wait_quiet(limit: f64, max_wait: Duration) -> (f64, Duration) {
    let start = tokio::time::Instant::now();
    loop {
        let busy = busy_percent(Duration::from_secs(1)).await;
        if busy < limit || start.elapsed() >= max_wait {
            return (busy, start.elapsed());
        }
        if start.elapsed().as_secs().is_multiple_of(15) {
            eprintln!("  machine {busy:.0} % busy; waiting for < {limit} %");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_with_spaces_and_parens_in_comm() {
        let line =
            "4242 (bench (x) 1) S 17 4242 17 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 4 0 1 1 1";
        assert_eq!(parse_stat(line), Some(("bench (x) 1", 17, 280)));
    }

    #[test]
    fn machine_busy_excludes_idle_and_iowait() {
        let stat = "cpu  100 5 50 800 20 3 2 1 0 0\ncpu0 50 2 25 400 10 1 1 0 0 0\n";
        assert_eq!(parse_machine(stat), Some((161, 981)));
    }
}
