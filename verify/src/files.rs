//! A bundle's files, read whole into memory from a directory or a `.tar` archive: at most [`MAX_FILES`] files
//! and [`MAX_BYTES`] in all, so a hostile bundle cannot exhaust the machine. Paths are kept relative, with `/`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path};

use ring::digest;

/// Files in a bundle, at most.
pub const MAX_FILES: usize = 10_000;
/// Bytes in a bundle, at most (a year of results of a large contract fits).
pub const MAX_BYTES: u64 = 16 << 30;

/// The bundle's files by relative path.
#[derive(Debug, Default)]
pub struct BundleFiles {
    files: BTreeMap<String, Vec<u8>>,
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
            let size = entry.header().size().map_err(io_error)?;
            let mut bytes = Vec::with_capacity(usize::try_from(size.min(1 << 20)).unwrap_or(0));
            entry.by_ref().take(MAX_BYTES + 1).read_to_end(&mut bytes).map_err(io_error)?;
            bundle.add(name, bytes)?;
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
            } else if kind.is_file() {
                let file = fs::File::open(entry.path()).map_err(io_error)?;
                let mut bytes = Vec::new();
                file.take(MAX_BYTES + 1).read_to_end(&mut bytes).map_err(io_error)?;
                self.add(name, bytes)?;
            } else {
                return Err(ReadError::Refused(format!("{name}: not a plain file")));
            }
        }
        Ok(())
    }

    fn add(&mut self, name: String, bytes: Vec<u8>) -> Result<(), ReadError> {
        let total: u64 = self.files.values().map(|bytes| bytes.len() as u64).sum::<u64>() + bytes.len() as u64;
        if self.files.len() >= MAX_FILES || total > MAX_BYTES {
            return Err(ReadError::Refused(format!(
                "the bundle holds more than {MAX_FILES} files or {} GiB; this is not a bundle slaprobe wrote",
                MAX_BYTES >> 30
            )));
        }
        self.files.insert(name, bytes);
        Ok(())
    }

    /// The file at `name`, if the bundle has it.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(Vec::as_slice)
    }

    /// Every file's name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// Files under `dir/`, with their names.
    pub fn under<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        self.files
            .iter()
            .filter_map(move |(name, bytes)| Some((name.strip_prefix(dir)?.strip_prefix('/')?, bytes.as_slice())))
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
