//! One spool segment file: framed, checksummed records appended through a buffer, and a reader that stops at
//! the first torn or corrupt record. A segment opens with a header record of seq 0 whose body is the chain value
//! before its first result (`docs/evidence.md`), so a gap statement can name it after older segments are gone;
//! segments of agents older than chaining have none.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use prost::Message;
use slaprobe_proto::evidence::{Chain, carried_chain};
use slaprobe_proto::v1;

use crate::private_files::open_private_append;

/// Bytes of framing before each payload: length and CRC-32.
const HEADER: usize = 8;
/// Largest payload accepted when reading; anything larger is corruption.
const MAX_PAYLOAD: usize = 16 * 1024 * 1024;
/// The sequence number of a segment's header record (results start at 1).
pub const HEADER_SEQ: u64 = 0;

/// The path of the segment starting at `first_seq`.
pub fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("segment-{first_seq:020}.log"))
}

/// Appends records to a segment.
#[derive(Debug)]
pub struct SegmentWriter {
    file: BufWriter<File>,
}

impl SegmentWriter {
    /// Creates the segment starting at `first_seq`, whose first result links from `chain_before`; returns it
    /// and the bytes its header takes (none when the file already had records).
    pub fn create(dir: &Path, first_seq: u64, chain_before: &Chain) -> io::Result<(Self, u64)> {
        let file = open_private_append(&segment_path(dir, first_seq))?;
        let fresh = file.metadata()?.len() == 0;
        // Make the new directory entry durable too.
        File::open(dir)?.sync_all()?;
        let mut writer = Self { file: BufWriter::with_capacity(64 * 1024, file) };
        let header = if fresh { writer.append(HEADER_SEQ, chain_before)? } else { 0 };
        Ok((writer, header))
    }

    /// Appends one record; returns the bytes it takes on disk.
    pub fn append(&mut self, seq: u64, body: &[u8]) -> io::Result<u64> {
        let mut payload = Vec::with_capacity(8 + body.len());
        payload.extend_from_slice(&seq.to_le_bytes());
        payload.extend_from_slice(body);
        let length = u32::try_from(payload.len()).map_err(|_| io::Error::other("spool record too large"))?;
        self.file.write_all(&length.to_le_bytes())?;
        self.file.write_all(&crc32fast::hash(&payload).to_le_bytes())?;
        self.file.write_all(&payload)?;
        Ok((HEADER + payload.len()) as u64)
    }

    /// Flushes and fsyncs.
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.file.get_ref().sync_data()
    }
}

/// What a scan of a segment found.
#[derive(Debug, Clone, Copy)]
pub struct Scan {
    /// Bytes of intact records from the start.
    pub valid_bytes: u64,
    /// Bytes in the file.
    pub file_bytes: u64,
    /// Seq of the last intact record.
    pub last_seq: Option<u64>,
    /// The chain value before the segment's first result, from its header.
    pub chain_before: Option<Chain>,
    /// The chain value the last intact record carries.
    pub last_chain: Option<Chain>,
}

/// Reads a segment's records.
pub struct SegmentReader;

impl SegmentReader {
    /// Walks the segment and reports where its intact records end.
    pub fn scan(path: &Path) -> io::Result<Scan> {
        let file_bytes = fs::metadata(path)?.len();
        let mut reader = BufReader::new(File::open(path)?);
        let (mut valid_bytes, mut last_seq, mut chain_before, mut last_body) = (0, None, None, Vec::new());
        while let Some((seq, body)) = next_record(&mut reader)? {
            valid_bytes += (HEADER + 8 + body.len()) as u64;
            if seq == HEADER_SEQ {
                chain_before = Chain::try_from(body.as_slice()).ok();
            } else {
                last_seq = Some(seq);
                last_body = body;
            }
        }
        let last_chain = match last_seq {
            Some(_) => {
                v1::Result::decode(last_body.as_slice()).ok().and_then(|result| carried_chain(&result).ok().flatten())
            }
            None => None,
        };
        Ok(Scan { valid_bytes, file_bytes, last_seq, chain_before, last_chain })
    }

    /// Hands each intact record from byte `offset` on to `visit`, with the offset just past it, until `visit`
    /// returns false or a torn or corrupt record or the end is reached.
    pub fn visit_from(path: &Path, offset: u64, mut visit: impl FnMut(u64, Vec<u8>, u64) -> bool) -> io::Result<()> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut position = offset;
        while let Some((seq, body)) = next_record(&mut reader)? {
            position += (HEADER + 8 + body.len()) as u64;
            if !visit(seq, body, position) {
                break;
            }
        }
        Ok(())
    }
}

/// The next intact record, or `None` at the end or at a torn or corrupt record.
fn next_record(reader: &mut impl Read) -> io::Result<Option<(u64, Vec<u8>)>> {
    let mut header = [0u8; HEADER];
    if !read_full(reader, &mut header)? {
        return Ok(None);
    }
    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let checksum = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if !(8..=MAX_PAYLOAD).contains(&length) {
        return Ok(None);
    }
    let mut payload = vec![0u8; length];
    if !read_full(reader, &mut payload)? || crc32fast::hash(&payload) != checksum {
        return Ok(None);
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&payload[..8]);
    Ok(Some((u64::from_le_bytes(seq), payload[8..].to_vec())))
}

/// Fills `buffer`; false if the input ended first (a torn record).
fn read_full(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..])? {
            0 => return Ok(false),
            read => filled += read,
        }
    }
    Ok(true)
}
