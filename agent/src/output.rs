//! Results as JSON lines (`--output jsonl:PATH`, `jsonl:-` for stdout), one record per line. (With a collector
//! they go to the spool instead: [`crate::spool::writer`].)
//!
//! A dedicated thread writes in batches: it takes every result waiting, writes them through a buffer, flushes,
//! then pauses [`BATCH_PAUSE`] so that a busy agent makes a few large writes a second instead of one per
//! result. A line reaches the file at most [`BATCH_PAUSE`] after its attempt ends. Files are opened for
//! appending.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use slaprobe_proto::ResultRecord;
use tokio::sync::mpsc;

/// Pause between batches.
pub const BATCH_PAUSE: Duration = Duration::from_millis(100);

/// Where results are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// Standard output.
    Stdout,
    /// A file, appended to.
    File(PathBuf),
}

impl std::str::FromStr for OutputTarget {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        match spec.strip_prefix("jsonl:") {
            Some("-") => Ok(Self::Stdout),
            Some(path) if !path.is_empty() => Ok(Self::File(PathBuf::from(path))),
            _ => Err(format!("{spec:?} is not an output; use jsonl:PATH, or jsonl:- for standard output")),
        }
    }
}

impl OutputTarget {
    /// Opens the target; the error names the file.
    pub fn open(&self) -> io::Result<Box<dyn Write + Send>> {
        Ok(match self {
            Self::Stdout => Box::new(io::stdout()),
            Self::File(path) => Box::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|error| io::Error::new(error.kind(), format!("{}: {error}", path.display())))?,
            ),
        })
    }
}

/// Writes every record from `results` to `sink` until the channel closes; returns how many were written.
pub fn write_jsonl(sink: Box<dyn Write + Send>, mut results: mpsc::Receiver<ResultRecord>) -> io::Result<u64> {
    let mut writer = BufWriter::with_capacity(256 * 1024, sink);
    let mut written = 0;
    while let Some(first) = results.blocking_recv() {
        let mut next = Some(first);
        while let Some(record) = next {
            serde_json::to_writer(&mut writer, &record)?;
            writer.write_all(b"\n")?;
            written += 1;
            next = results.try_recv().ok();
        }
        writer.flush()?;
        std::thread::sleep(BATCH_PAUSE);
    }
    writer.flush()?;
    Ok(written)
}
