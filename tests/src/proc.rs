//! What Linux's /proc says of a process, for the benchmarks' figures.

/// utime + stime of a process (`"self"` or a pid), in seconds, every
/// thread counted. /proc counts in USER_HZ ticks, 100 per second on Linux
/// whatever the kernel's own tick rate. None where /proc cannot tell.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Fields 14 and 15 of the line; index 0 here is field 3.
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
