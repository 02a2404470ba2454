//! The log of the code under test, kept in memory: a `tracing` subscriber installed once per test binary that
//! keeps every line, so a test can assert what was logged (a refusal, a retry) instead of inferring it from
//! silence.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// Every line logged so far in this test binary, in order.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn installed() -> &'static Lines {
    static LINES: OnceLock<Lines> = OnceLock::new();
    LINES.get_or_init(|| {
        let lines = Lines::default();
        let writer = lines.clone();
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .try_init()
            .expect("another tracing subscriber is installed in this test binary");
        lines
    })
}

/// Starts keeping the log, if not yet kept; call before the code under test runs.
pub fn start() {
    installed();
}

/// The lines logged so far that contain every one of `parts`.
pub fn lines_with(parts: &[&str]) -> Vec<String> {
    let bytes = installed().0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|line| parts.iter().all(|part| line.contains(part)))
        .map(str::to_owned)
        .collect()
}
