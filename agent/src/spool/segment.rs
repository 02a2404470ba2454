//! One spool segment file: framed, checksummed records appended through a buffer, and a reader that stops at
//! the first torn or corrupt record.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::private_files::open_private_append;

/// Bytes of framing before each payload: length and CRC-32.
const HEADER: usize = 8;
/// Largest payload accepted when reading; anything larger is corruption.
const MAX_PAYLOAD: usize = 16 * 1024 * 1024;

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
    /// Creates (or reopens for appending) the segment starting at `first_seq`.
    pub fn create(dir: &Path, first_seq: u64) -> io::Result<Self> {
        let file = open_private_append(&segment_path(dir, first_seq))?;
        // Make the new directory entry durable too.
        File::open(dir)?.sync_all()?;
        Ok(Self { file: BufWriter::with_capacity(64 * 1024, file) })
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
}

/// Reads a segment's records.
pub struct SegmentReader;

impl SegmentReader {
    /// Walks the segment and reports where its intact records end.
    pub fn scan(path: &Path) -> io::Result<Scan> {
        let file_bytes = fs::metadata(path)?.len();
        let mut reader = BufReader::new(File::open(path)?);
        let mut valid_bytes = 0;
        let mut last_seq = None;
        while let Some((seq, body)) = next_record(&mut reader)? {
            valid_bytes += (HEADER + 8 + body.len()) as u64;
            last_seq = Some(seq);
        }
        Ok(Scan { valid_bytes, file_bytes, last_seq })
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
