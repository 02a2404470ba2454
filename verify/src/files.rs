//! A bundle's files from a directory or a `.tar` archive: at most [`MAX_FILES`] files and [`MAX_BYTES`] in all,
//! so a hostile bundle cannot exhaust the machine. Paths are kept relative, with `/`. Every file is held in
//! memory but `results.jsonl`, which runs to gigabytes for a large contract: it is read from the bundle's
//! directory, or from a temporary copy made while the archive is read, a line at a time.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use ring::digest;

/// Files in a bundle, at most.
pub const MAX_FILES: usize = 10_000;
/// Bytes in a bundle, at most (a year of results of a large contract fits).
pub const MAX_BYTES: u64 = 16 << 30;

/// The file read from disk rather than memory.
const STREAMED: &str = slaprobe_proto::bundle::RESULTS;

/// The bundle's files by relative path.
#[derive(Debug, Default)]
pub struct BundleFiles {
    files: BTreeMap<String, Content>,
}

/// Where a file's bytes are.
#[derive(Debug)]
enum Content {
    /// In memory.
    Memory(Vec<u8>),
    /// On disk: the bundle's own file, or a temporary copy of an archive's entry (kept until the bundle is
    /// dropped); its size.
    Disk { path: PathBuf, size: u64, _copy: Option<tempfile::TempPath> },
}

impl Content {
    fn size(&self) -> u64 {
        match self {
            Self::Memory(bytes) => bytes.len() as u64,
            Self::Disk { size, .. } => *size,
        }
    }
}

/// Why a bundle cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The system could not read it.
    #[error("{path}: {source}")]
    Io {
        /// What was being read.
        path: String,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// It is larger than the verifier reads, or holds something that is not a plain file.
    #[error("{0}")]
    Refused(String),
}

impl BundleFiles {
    /// The bundle at `path`: a directory, or a `.tar` archive.
    pub fn read(path: &Path) -> Result<Self, ReadError> {
        let io_error = |source| ReadError::Io { path: path.display().to_string(), source };
        if path.is_dir() {
            let mut bundle = Self::default();
            bundle.read_dir(path, "")?;
            Ok(bundle)
        } else {
            Self::read_tar(fs::File::open(path).map_err(io_error)?).map_err(|error| match error {
                ReadError::Io { path: entry, source } => {
                    ReadError::Io { path: format!("{}: {entry}", path.display()), source }
                }
                refused => refused,
            })
        }
    }

    /// The bundle in a `.tar` archive.
    pub fn read_tar(archive: impl Read) -> Result<Self, ReadError> {
        let mut bundle = Self::default();
        let mut archive = tar::Archive::new(archive);
        let io_error = |source| ReadError::Io { path: "the archive".to_owned(), source };
        for entry in archive.entries().map_err(io_error)? {
            let mut entry = entry.map_err(io_error)?;
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                continue;
            }
            let name = entry.path().map_err(io_error)?.into_owned();
            let name = relative_name(&name)?;
            if !kind.is_file() {
                return Err(ReadError::Refused(format!("{name}: not a plain file")));
            }
            if name == STREAMED {
                let mut copy = tempfile::NamedTempFile::new().map_err(io_error)?;
                let size = io::copy(&mut entry.by_ref().take(MAX_BYTES + 1), &mut copy).map_err(io_error)?;
                copy.flush().map_err(io_error)?;
                let copy = copy.into_temp_path();
                bundle.add(name, Content::Disk { path: copy.to_path_buf(), size, _copy: Some(copy) })?;
                continue;
            }
            let size = entry.header().size().map_err(io_error)?;
            let mut bytes = Vec::with_capacity(usize::try_from(size.min(1 << 20)).unwrap_or(0));
            entry.by_ref().take(MAX_BYTES + 1).read_to_end(&mut bytes).map_err(io_error)?;
            bundle.add(name, Content::Memory(bytes))?;
        }
        Ok(bundle)
    }

    fn read_dir(&mut self, dir: &Path, prefix: &str) -> Result<(), ReadError> {
        let io_error = |source| ReadError::Io { path: dir.display().to_string(), source };
        let mut entries: Vec<_> = fs::read_dir(dir).map_err(io_error)?.collect::<Result<_, _>>().map_err(io_error)?;
        entries.sort_by_key(fs::DirEntry::file_name);
        for entry in entries {
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let kind = entry.file_type().map_err(io_error)?;
            if kind.is_dir() {
                self.read_dir(&entry.path(), &format!("{name}/"))?;
            } else if kind.is_file() && name == STREAMED {
                let size = entry.metadata().map_err(io_error)?.len();
                self.add(name, Content::Disk { path: entry.path(), size, _copy: None })?;
            } else if kind.is_file() {
                let file = fs::File::open(entry.path()).map_err(io_error)?;
                let mut bytes = Vec::new();
                file.take(MAX_BYTES + 1).read_to_end(&mut bytes).map_err(io_error)?;
                self.add(name, Content::Memory(bytes))?;
            } else {
                return Err(ReadError::Refused(format!("{name}: not a plain file")));
            }
        }
        Ok(())
    }

    fn add(&mut self, name: String, content: Content) -> Result<(), ReadError> {
        let total: u64 = self.files.values().map(Content::size).sum::<u64>() + content.size();
        if self.files.len() >= MAX_FILES || total > MAX_BYTES {
            return Err(ReadError::Refused(format!(
                "the bundle holds more than {MAX_FILES} files or {} GiB; this is not a bundle slaprobe wrote",
                MAX_BYTES >> 30
            )));
        }
        self.files.insert(name, content);
        Ok(())
    }

    /// The file at `name`, if the bundle has it and holds it in memory (every file but `results.jsonl`).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        match self.files.get(name)? {
            Content::Memory(bytes) => Some(bytes),
            Content::Disk { .. } => None,
        }
    }

    /// The file at `name` to read, if the bundle has it.
    pub fn open(&self, name: &str) -> Option<io::Result<Box<dyn BufRead + '_>>> {
        Some(match self.files.get(name)? {
            Content::Memory(bytes) => Ok(Box::new(bytes.as_slice())),
            Content::Disk { path, .. } => {
                fs::File::open(path).map(|file| Box::new(BufReader::with_capacity(1 << 20, file)) as Box<dyn BufRead>)
            }
        })
    }

    /// The hex SHA-256 of the file at `name`, if the bundle has it.
    pub fn sha256_hex_of(&self, name: &str) -> Option<io::Result<String>> {
        let mut reader = match self.open(name)? {
            Ok(reader) => reader,
            Err(error) => return Some(Err(error)),
        };
        let mut context = digest::Context::new(&digest::SHA256);
        Some(loop {
            let buffer = match reader.fill_buf() {
                Ok(buffer) => buffer,
                Err(error) => break Err(error),
            };
            if buffer.is_empty() {
                break Ok(hex::encode(context.finish()));
            }
            context.update(buffer);
            let read = buffer.len();
            reader.consume(read);
        })
    }

    /// Every file's name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// Files under `dir/`, with their names.
    pub fn under<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        self.files.iter().filter_map(move |(name, content)| {
            let Content::Memory(bytes) = content else { return None };
            Some((name.strip_prefix(dir)?.strip_prefix('/')?, bytes.as_slice()))
        })
    }
}

/// An archive path as a bundle name: relative, without `..`.
fn relative_name(path: &Path) -> Result<String, ReadError> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => return Err(ReadError::Refused(format!("{}: not a relative path inside the bundle", path.display()))),
        }
    }
    Ok(parts.join("/"))
}

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes))
}
