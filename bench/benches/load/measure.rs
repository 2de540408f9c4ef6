//! Syscalls of the server threads (perf tracepoints, when perf is there).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Counts the syscalls of threads `tids` for `window`, if perf can.
pub struct Syscalls(Option<Child>);

impl Syscalls {
    pub fn start(tids: &[u32], window: Duration) -> Syscalls {
        // `LOAD_NO_PERF=1`: skip it (tracing every syscall adds to each).
        if std::env::var_os("LOAD_NO_PERF").is_some() {
            return Syscalls(None);
        }
        let list = tids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let child = Command::new("perf")
            .args([
                "stat",
                "-x,",
                "-e",
                "raw_syscalls:sys_enter",
                "-t",
                &list,
                "--",
                "sleep",
            ])
            .arg(format!("{:.3}", window.as_secs_f64()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .ok();
        Syscalls(child)
    }

    /// The count, or `None` when perf is missing or not permitted.
    pub fn finish(self) -> Option<u64> {
        let output = self.0?.wait_with_output().ok()?;
        let text = String::from_utf8_lossy(&output.stderr);
        if std::env::var_os("LOAD_DEBUG").is_some() {
            eprintln!("perf: {text}");
        }
        text.lines()
            .find(|l| l.contains("raw_syscalls:sys_enter"))?
            .split(',')
            .next()?
            .trim()
            .parse()
            .ok()
    }
}
