//! The durable spool: every result is written here, with its sequence number, before it counts as produced, and
//! stays until the collector acknowledges it (`docs/protocol.md`, properties 1 and 2).
//!
//! On disk, a directory of append-only segment files `segment-<first seq>.log`, each a series of records
//! `[payload length: u32 LE][CRC-32 of payload: u32 LE][payload]`, where the payload is `seq: u64 LE` followed by
//! the protobuf `slaprobe.v1.Result`; a header record of seq 0 opens each segment with the chain value before its
//! first result. A segment rolls over at an eighth of the cap, at most [`SEGMENT_BYTES`]. Alongside: `acked` (the
//! highest acknowledged seq, replaced atomically) and `gaps` (dropped ranges not yet reported, one
//! `first last reason [chain before] [chain after]` per line, chain values in hex or `-`).
//!
//! - Sequence numbers are gap-free and survive restarts: the next one follows the last record on disk, or the
//!   acknowledged one when everything was acknowledged.
//! - Each result gets its chain value as it gets its seq (`docs/evidence.md`): the chain continues from the last
//!   record on disk across restarts (the segment holding it is never deleted).
//! - [`Spool::sync`] makes appended records durable (fsync); the agent calls it at least every second. Only
//!   durable records are handed out for sending, so a record the collector has seen can never be lost to a
//!   crash and its seq reused.
//! - Opening recovers from a crash: a torn or corrupt tail is cut off at the last intact record. A corrupt record
//!   inside an older segment ends that segment; what follows is counted as lost and reported as a gap.
//! - Over the size cap, whole oldest segments are dropped and their ranges recorded as gaps: never silently.
//! - [`Spool::ack`] deletes segments wholly acknowledged and persists the acknowledgement.
//! - [`writer`]: the thread that writes results in, and carries on (results held in memory) while the disk fails.

mod segment;
pub mod writer;

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use prost::Message;
use slaprobe_proto::evidence::{Chain, GENESIS, canonical, chain_hex, link, parse_chain_hex};
use slaprobe_proto::{ResultRecord, v1};

use segment::{SegmentReader, SegmentWriter, segment_path};

use crate::private_files::{create_private_dir, write_private_atomically};

/// Largest segment: a new one starts beyond this size (smaller caps get smaller segments, an eighth of the cap,
/// so that dropping the oldest segment frees a fair share and no more).
pub const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

/// A range of sequence numbers dropped before they could be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// First dropped seq.
    pub first: u64,
    /// Last dropped seq (inclusive).
    pub last: u64,
    /// Why they were dropped.
    pub cause: GapCause,
    /// The chain value before `first`, when known.
    pub chain_before: Option<Chain>,
    /// The chain value of `last`, when known.
    pub chain_after: Option<Chain>,
}

/// Why results were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapCause {
    /// The spool was over its cap: the oldest segment went.
    SpoolFull,
    /// A segment was damaged on disk: its records past the damage were lost.
    SpoolCorrupt,
}

impl GapCause {
    /// The reason as the collector and the signed statement name it.
    pub fn reason(self) -> &'static str {
        match self {
            Self::SpoolFull => "spool_full",
            Self::SpoolCorrupt => "spool_corrupt",
        }
    }

    fn from_reason(reason: &str) -> Option<Self> {
        [Self::SpoolFull, Self::SpoolCorrupt].into_iter().find(|cause| cause.reason() == reason)
    }
}

/// Where the last read stopped: just past record `seq` of the segment starting at `segment`, at byte `offset`.
#[derive(Debug, Clone, Copy)]
struct ReadCursor {
    segment: u64,
    seq: u64,
    offset: u64,
}

#[derive(Debug, Clone)]
struct SegmentInfo {
    first_seq: u64,
    last_seq: Option<u64>,
    bytes: u64,
    chain_before: Option<Chain>,
    last_chain: Option<Chain>,
}

/// An open spool directory.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    cap_bytes: u64,
    segment_bytes: u64,
    segments: VecDeque<SegmentInfo>,
    writer: Option<SegmentWriter>,
    next_seq: u64,
    chain_head: Chain,
    durable_seq: u64,
    acked: u64,
    gaps: Vec<Gap>,
    dropped_total: u64,
    cursor: Option<ReadCursor>,
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, holding at most about `cap_bytes` on disk.
    pub fn open(dir: &Path, cap_bytes: u64) -> io::Result<Self> {
        create_private_dir(dir)?;
        let acked = read_number(&dir.join("acked"))?.unwrap_or(0);
        let mut gaps = read_gaps(&dir.join("gaps"))?;
        let mut first_seqs: Vec<u64> = fs::read_dir(dir)?
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                name.strip_prefix("segment-")?.strip_suffix(".log")?.parse().ok()
            })
            .collect();
        first_seqs.sort_unstable();
        let mut segments = VecDeque::new();
        let last_index = first_seqs.len().checked_sub(1);
        for (index, first_seq) in first_seqs.iter().enumerate() {
            let path = segment_path(dir, *first_seq);
            let scan = SegmentReader::scan(&path)?;
            let damaged = scan.valid_bytes < scan.file_bytes;
            // Records lost inside an older segment are known only by the next segment's start.
            if damaged && Some(index) != last_index {
                let next_first = first_seqs[index + 1];
                let lost_from = scan.last_seq.map_or(*first_seq, |last| last + 1);
                if lost_from < next_first {
                    gaps.push(Gap {
                        first: lost_from,
                        last: next_first - 1,
                        cause: GapCause::SpoolCorrupt,
                        chain_before: if scan.last_seq.is_some() { scan.last_chain } else { scan.chain_before },
                        chain_after: None,
                    });
                }
            }
            if scan.last_seq.is_none() {
                // No intact record: created but never written (a crash right after a roll-over), or damaged from
                // its first record on (the gap above says so).
                fs::remove_file(&path)?;
                continue;
            }
            if damaged {
                tracing::warn!(
                    path = %path.display(), kept = scan.valid_bytes, file = scan.file_bytes,
                    "Cut a torn or corrupt tail off a spool segment."
                );
                let file = fs::OpenOptions::new().write(true).open(&path)?;
                file.set_len(scan.valid_bytes)?;
                file.sync_all()?;
            }
            segments.push_back(SegmentInfo {
                first_seq: *first_seq,
                last_seq: scan.last_seq,
                bytes: scan.valid_bytes,
                chain_before: scan.chain_before,
                last_chain: scan.last_chain,
            });
        }
        let last_on_disk = segments.iter().rev().find(|segment| segment.last_seq.is_some());
        let next_seq = last_on_disk.and_then(|segment| segment.last_seq).map_or(acked + 1, |last| last.max(acked) + 1);
        // The next result links from the last one on disk; with none there (nothing was ever spooled, or it
        // carries no chain), from the genesis value, as the chain's rule says.
        let chain_head = match last_on_disk {
            Some(segment) if segment.last_seq.is_some_and(|last| last >= acked) => {
                segment.last_chain.unwrap_or(GENESIS)
            }
            _ => {
                if acked > 0 {
                    tracing::warn!(
                        acked,
                        "The spool holds no record of the last acknowledged result; the chain starts again from the genesis value."
                    );
                }
                GENESIS
            }
        };
        gaps.retain(|gap| gap.last > acked);
        let spool = Self {
            dir: dir.to_owned(),
            cap_bytes,
            segment_bytes: (cap_bytes / 8).clamp(4096, SEGMENT_BYTES),
            segments,
            writer: None,
            next_seq,
            chain_head,
            durable_seq: next_seq - 1,
            acked,
            gaps,
            dropped_total: 0,
            cursor: None,
        };
        spool.write_gaps()?;
        Ok(spool)
    }

    /// The highest sequence number that is durable on disk.
    pub fn durable_seq(&self) -> u64 {
        self.durable_seq
    }

    /// Opens the directory again after a failed write, as after a crash: torn or corrupt tails are cut off and
    /// the next sequence number follows the last intact record. The drop count carries over.
    pub fn reopen(&mut self) -> io::Result<()> {
        let dropped_total = self.dropped_total;
        // The old writer's unflushed buffer is dropped with it; whatever it left half-written is cut off below.
        self.writer = None;
        *self = Self::open(&self.dir, self.cap_bytes)?;
        self.dropped_total = dropped_total;
        Ok(())
    }

    /// Appends `record` with the next sequence number (also set on the record) and its chain value, and returns
    /// that number. The record is durable after the next [`Spool::sync`].
    pub fn append(&mut self, record: &mut ResultRecord) -> io::Result<u64> {
        let seq = self.next_seq;
        record.seq = Some(seq);
        let mut wire = v1::Result::from(&*record);
        let chain = self.next_chain(&wire);
        wire.chain = chain.map(Vec::from).unwrap_or_default();
        let body = wire.encode_to_vec();
        let needs_new_segment = match (&self.writer, self.segments.back()) {
            (Some(_), Some(last)) => last.bytes >= self.segment_bytes,
            _ => true,
        };
        if needs_new_segment {
            self.start_segment(seq)?;
        }
        let writer = self.writer.as_mut().ok_or_else(|| io::Error::other("spool writer missing"))?;
        let written = writer.append(seq, &body)?;
        if let Some(last) = self.segments.back_mut() {
            last.bytes += written;
            last.last_seq = Some(seq);
            last.last_chain = chain;
        }
        self.next_seq += 1;
        self.chain_head = chain.unwrap_or(GENESIS);
        self.enforce_cap()?;
        Ok(seq)
    }

    /// The chain value of `result` after the current head: over the record as the collector will decode it, so
    /// both ends hash the same canonical form. `None` for a record that has none (it cannot be converted), which
    /// the next result links past from the genesis value.
    fn next_chain(&self, result: &v1::Result) -> Option<Chain> {
        let decoded = ResultRecord::try_from(result.clone()).map_err(|error| error.to_string());
        match decoded.and_then(|record| canonical(&record).map_err(|error| error.to_string())) {
            Ok(canonical) => Some(link(&self.chain_head, &canonical)),
            Err(error) => {
                tracing::error!(seq = result.seq, %error, "Spooled a result without a chain value: it has no canonical form.");
                None
            }
        }
    }

    fn start_segment(&mut self, first_seq: u64) -> io::Result<()> {
        if let Some(mut writer) = self.writer.take() {
            writer.sync()?;
        }
        let (writer, header_bytes) = SegmentWriter::create(&self.dir, first_seq, &self.chain_head)?;
        self.writer = Some(writer);
        self.segments.push_back(SegmentInfo {
            first_seq,
            last_seq: None,
            bytes: header_bytes,
            chain_before: Some(self.chain_head),
            last_chain: None,
        });
        Ok(())
    }

    /// Makes everything appended so far durable.
    pub fn sync(&mut self) -> io::Result<()> {
        if let Some(writer) = self.writer.as_mut() {
            writer.sync()?;
        }
        self.durable_seq = self.next_seq - 1;
        Ok(())
    }

    /// Durable, unacknowledged records with `seq > after`, in order: at most `limit` of them, and no more once
    /// their encoded size reaches `max_bytes` (at least one is returned when any is there). Reading on from where
    /// the previous call stopped (the uplink's pattern) resumes at that byte offset instead of rescanning.
    pub fn read_after(&mut self, after: u64, limit: usize, max_bytes: usize) -> io::Result<Vec<v1::Result>> {
        let from = after.max(self.acked);
        let durable = self.durable_seq;
        let mut out = Vec::new();
        let mut bytes = 0;
        for segment in &self.segments {
            if segment.last_seq.is_none_or(|last| last <= from) {
                continue;
            }
            let offset = match self.cursor {
                Some(cursor) if cursor.segment == segment.first_seq && cursor.seq <= from => cursor.offset,
                _ => 0,
            };
            let mut wants_more = true;
            SegmentReader::visit_from(&segment_path(&self.dir, segment.first_seq), offset, |seq, body, end| {
                if seq > durable {
                    return false;
                }
                self.cursor = Some(ReadCursor { segment: segment.first_seq, seq, offset: end });
                if seq <= from {
                    return true;
                }
                match v1::Result::decode(body.as_slice()) {
                    Ok(result) => out.push(result),
                    Err(error) => tracing::error!(seq, %error, "Skipped an undecodable spool record."),
                }
                bytes += body.len();
                wants_more = out.len() < limit && bytes < max_bytes;
                wants_more
            })?;
            if !wants_more || out.last().is_some_and(|result| result.seq >= durable) {
                break;
            }
        }
        Ok(out)
    }

    /// Records that the collector durably stored everything up to `through`; deletes segments wholly covered.
    pub fn ack(&mut self, through: u64) -> io::Result<()> {
        if through <= self.acked {
            return Ok(());
        }
        self.acked = through.min(self.next_seq.saturating_sub(1));
        write_private_atomically(&self.dir.join("acked"), self.acked.to_string().as_bytes())?;
        self.gaps.retain(|gap| gap.last > self.acked);
        self.write_gaps()?;
        while self.segments.len() > 1 && self.segments[0].last_seq.is_none_or(|last| last <= self.acked) {
            if let Some(segment) = self.segments.pop_front() {
                fs::remove_file(segment_path(&self.dir, segment.first_seq))?;
            }
        }
        Ok(())
    }

    /// Drops whole oldest segments (never the one being written) while the spool is over its cap.
    fn enforce_cap(&mut self) -> io::Result<()> {
        while self.segments.len() > 1 && self.bytes() > self.cap_bytes {
            let Some(segment) = self.segments.pop_front() else { break };
            fs::remove_file(segment_path(&self.dir, segment.first_seq))?;
            if let Some(last) = segment.last_seq {
                let first = segment.first_seq.max(self.acked + 1);
                if first <= last {
                    let dropped = last - first + 1;
                    self.dropped_total += dropped;
                    tracing::warn!(first, last, dropped, "Spool over its cap: dropped the oldest results.");
                    // A segment partly acknowledged starts its gap mid-way, where the chain before is not known.
                    let chain_before = segment.chain_before.filter(|_| first == segment.first_seq);
                    match self.gaps.last_mut() {
                        Some(previous) if previous.last + 1 == first && previous.cause == GapCause::SpoolFull => {
                            previous.last = last;
                            previous.chain_after = segment.last_chain;
                        }
                        _ => self.gaps.push(Gap {
                            first,
                            last,
                            cause: GapCause::SpoolFull,
                            chain_before,
                            chain_after: segment.last_chain,
                        }),
                    }
                }
            }
        }
        self.write_gaps()
    }

    fn write_gaps(&self) -> io::Result<()> {
        let chain = |chain: Option<Chain>| chain.map_or_else(|| "-".to_owned(), |chain| chain_hex(&chain));
        let text: String = self
            .gaps
            .iter()
            .map(|gap| {
                let (before, after) = (chain(gap.chain_before), chain(gap.chain_after));
                format!("{} {} {} {before} {after}\n", gap.first, gap.last, gap.cause.reason())
            })
            .collect();
        write_private_atomically(&self.dir.join("gaps"), text.as_bytes())
    }

    /// Bytes on disk in segments.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|segment| segment.bytes).sum()
    }

    /// Results appended but not acknowledged (dropped ones excluded).
    pub fn backlog(&self) -> u64 {
        let pending = self.next_seq.saturating_sub(self.acked + 1);
        let dropped: u64 = self.gaps.iter().map(|gap| gap.last - gap.first.max(self.acked + 1) + 1).sum();
        pending.saturating_sub(dropped)
    }

    /// The sequence number the next result gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The highest acknowledged sequence number (0 before any).
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Dropped ranges not yet acknowledged; they must be reported to the collector.
    pub fn gaps(&self) -> &[Gap] {
        &self.gaps
    }

    /// Results dropped over the cap since this spool was opened.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }
}

fn read_number(path: &Path) -> io::Result<Option<u64>> {
    match fs::read_to_string(path) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("{}: not a number", path.display()))),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

fn read_gaps(path: &Path) -> io::Result<Vec<Gap>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    text.lines().filter(|line| !line.trim().is_empty()).map(|line| read_gap(line, path)).collect()
}

/// One line of the `gaps` file; lines of agents older than chaining have only `first last`.
fn read_gap(line: &str, path: &Path) -> io::Result<Gap> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("{}: bad line {line:?}", path.display()));
    let chain = |word: Option<&str>| match word {
        None | Some("-") => Ok(None),
        Some(hex) => parse_chain_hex(hex).map(Some).map_err(|_| bad()),
    };
    let mut words = line.split_whitespace();
    let (Some(Ok(first)), Some(Ok(last))) = (words.next().map(str::parse), words.next().map(str::parse)) else {
        return Err(bad());
    };
    let cause = match words.next() {
        None => GapCause::SpoolFull,
        Some(reason) => GapCause::from_reason(reason).ok_or_else(bad)?,
    };
    let (chain_before, chain_after) = (chain(words.next())?, chain(words.next())?);
    if first > last || first == 0 {
        return Err(bad());
    }
    Ok(Gap { first, last, cause, chain_before, chain_after })
}

#[cfg(test)]
mod tests;
