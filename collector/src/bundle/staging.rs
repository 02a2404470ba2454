//! Where a bundle's files are written: each hashed (SHA-256) as it is written, then the manifest listing them;
//! into the output directory itself, or into `OUT.partial/` next to a `.tar` that is then packed from it (files
//! in name order, so the same bundle packs the same) and removed.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use ring::digest::{Context, SHA256};

/// Why the bundle's files could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct StagingError {
    /// The file or directory.
    pub path: PathBuf,
    /// What the system said.
    #[source]
    pub source: io::Error,
}

/// The files written so far and their SHA-256.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    tar: Option<PathBuf>,
    hashes: BTreeMap<String, String>,
}

/// One file being written, hashed on the way.
pub struct StagedFile {
    name: String,
    out: BufWriter<File>,
    digest: Context,
}

impl Write for StagedFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.out.write(bytes)?;
        self.digest.update(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Staging {
    /// Staging for `out`: a `.tar` file, or a directory that must not exist yet or be empty.
    pub fn new(out: &Path) -> Result<Self, StagingError> {
        let failed = |path: &Path, source| StagingError { path: path.to_owned(), source };
        let is_tar = out.extension().is_some_and(|extension| extension == "tar");
        let dir = if is_tar { out.with_extension("tar.partial") } else { out.to_owned() };
        if is_tar && out.exists() {
            return Err(failed(out, io::Error::new(io::ErrorKind::AlreadyExists, "exists; choose another name")));
        }
        if dir.exists() && fs::read_dir(&dir).map_err(|error| failed(&dir, error))?.next().is_some() {
            let problem = io::Error::new(io::ErrorKind::AlreadyExists, "exists and is not empty; choose another place");
            return Err(failed(&dir, problem));
        }
        fs::create_dir_all(&dir).map_err(|error| failed(&dir, error))?;
        Ok(Self { dir, tar: is_tar.then(|| out.to_owned()), hashes: BTreeMap::new() })
    }

    /// Starts the file `name` (a relative path with `/`).
    pub fn create(&self, name: &str) -> Result<StagedFile, StagingError> {
        let path = self.dir.join(name);
        let failed = |source| StagingError { path: path.clone(), source };
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(failed)?;
        }
        let out = BufWriter::new(File::create(&path).map_err(failed)?);
        Ok(StagedFile { name: name.to_owned(), out, digest: Context::new(&SHA256) })
    }

    /// Finishes `file` and records its SHA-256.
    pub fn finish(&mut self, mut file: StagedFile) -> Result<(), StagingError> {
        file.out.flush().map_err(|source| StagingError { path: self.dir.join(&file.name), source })?;
        self.hashes.insert(file.name, hex::encode(file.digest.finish()));
        Ok(())
    }

    /// Writes the whole file `name`.
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> Result<(), StagingError> {
        let mut file = self.create(name)?;
        file.write_all(bytes).map_err(|source| StagingError { path: self.dir.join(name), source })?;
        self.finish(file)
    }

    /// Every file written so far, with its hex SHA-256.
    pub fn hashes(&self) -> &BTreeMap<String, String> {
        &self.hashes
    }

    /// Writes the manifest last (it is not listed in itself) and, for a `.tar`, packs the files and removes the
    /// staging directory.
    pub fn close(self, manifest: &[u8], manifest_name: &str) -> Result<(), StagingError> {
        let path = self.dir.join(manifest_name);
        fs::write(&path, manifest).map_err(|source| StagingError { path, source })?;
        let Some(tar) = &self.tar else { return Ok(()) };
        let failed = |source| StagingError { path: tar.clone(), source };
        let mut builder = tar::Builder::new(BufWriter::new(File::create(tar).map_err(failed)?));
        builder.mode(tar::HeaderMode::Deterministic);
        for name in std::iter::once(manifest_name).chain(self.hashes.keys().map(String::as_str)) {
            builder.append_path_with_name(self.dir.join(name), name).map_err(failed)?;
        }
        builder.into_inner().and_then(|mut out| out.flush()).map_err(failed)?;
        fs::remove_dir_all(&self.dir).map_err(|source| StagingError { path: self.dir.clone(), source })
    }
}
