//! Result output as JSON lines (`--output jsonl:PATH`, `jsonl:-` for stdout), one record per line.
//!
//! A dedicated thread writes through a buffer and flushes whenever no further result is waiting, so lines reach
//! the file promptly under light load and in large writes under heavy load. Files are opened for appending.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use slaprobe_proto::ResultRecord;
use tokio::sync::mpsc;

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
    let mut writer = BufWriter::with_capacity(64 * 1024, sink);
    let mut written = 0;
    while let Some(record) = results.blocking_recv() {
        serde_json::to_writer(&mut writer, &record)?;
        writer.write_all(b"\n")?;
        written += 1;
        if results.is_empty() {
            writer.flush()?;
        }
    }
    writer.flush()?;
    Ok(written)
}
