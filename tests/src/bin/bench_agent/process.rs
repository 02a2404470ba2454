//! Stopping the processes the benchmark starts, and the percentiles it prints; CPU and memory come from
//! [`slaprobe_tests::process_stats`].

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Asks a child to stop (SIGTERM) and waits for it.
pub fn stop(child: &mut std::process::Child) {
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let _ = child.wait();
}

/// The value at `fraction` (0..=1) of `sorted`, nearest rank; 0 for none.
pub fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}
