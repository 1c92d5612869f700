//! What Linux's /proc says of a process, for the benchmarks' figures.

use std::collections::BTreeMap;

/// utime + stime of a process (`"self"` or a pid), in seconds, every
/// thread counted. /proc counts in USER_HZ ticks, 100 per second on Linux
/// whatever the kernel's own tick rate. None where /proc cannot tell.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    Some(stat_cpu(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?.1)
}

/// utime + stime of each thread of process `pid`, in seconds, summed by
/// thread name (a pool's threads share one: tokio's `tokio-rt-worker`).
/// Only threads alive when read are counted: compare two reads by name.
pub fn cpu_seconds_by_thread(pid: u32) -> Option<BTreeMap<String, f64>> {
    let mut by_name = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(stat) = std::fs::read_to_string(task.ok()?.path().join("stat")) else {
            // The thread ended between the listing and the read.
            continue;
        };
        let (name, seconds) = stat_cpu(&stat)?;
        *by_name.entry(name).or_insert(0.0) += seconds;
    }
    Some(by_name)
}

/// (command name, utime + stime in seconds) of one `/proc/.../stat` line.
fn stat_cpu(stat: &str) -> Option<(String, f64)> {
    // The command name (field 2) is in parentheses and may hold spaces.
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_owned();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the line; index 0 here is field 3.
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some((name, ticks / 100.0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_stat_line_gives_its_name_and_user_plus_system_seconds() {
        let line = "4242 (tansiq write) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(
            super::stat_cpu(line),
            Some(("tansiq write".to_owned(), 3.0))
        );
    }

    #[test]
    fn this_process_threads_are_read_by_name() {
        let threads = super::cpu_seconds_by_thread(std::process::id()).unwrap();
        assert!(!threads.is_empty());
        assert!(threads.values().all(|seconds| *seconds >= 0.0));
    }
}
