//! `openslo export` and `openslo import` (`docs/openslo.md`): the documents, or the contracts, on standard
//! output; what OpenSLO or a contract could not say is returned as notes for standard error.

use std::io::{Read, Write};
use std::path::Path;

use super::CliError;
use crate::config::{Purpose, load_collector_config_for};
use crate::openslo::{export, import};

/// Largest OpenSLO file read: documents are written by hand or by a tool, and far smaller.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// `openslo export`: the OpenSLO documents of the contracts of `config` (only `contract`, when given).
pub fn export_openslo(config: &Path, contract: Option<&str>) -> Result<Vec<String>, CliError> {
    let config = load_collector_config_for(config, Purpose::StoreOnly)?;
    let exported = export::export(&config, contract).map_err(CliError::Usage)?;
    let text = exported.yaml().map_err(|error| CliError::Io(format!("writing the documents: {error}")))?;
    write_out(&text)?;
    Ok(exported.notes)
}

/// `openslo import`: the contracts of the OpenSLO documents in `file`, as a `contracts:` list.
pub fn import_openslo(file: &Path) -> Result<Vec<String>, CliError> {
    let unreadable = |error: std::io::Error| CliError::Usage(format!("{}: {error}", file.display()));
    let mut text = String::new();
    let read = std::fs::File::open(file)
        .and_then(|opened| opened.take(MAX_FILE_BYTES + 1).read_to_string(&mut text))
        .map_err(unreadable)?;
    if read as u64 > MAX_FILE_BYTES {
        return Err(CliError::Usage(format!("{}: larger than {MAX_FILE_BYTES} bytes", file.display())));
    }
    let imported = import::import(&text)
        .map_err(|problems| CliError::Data(format!("{}: {}", file.display(), problems.join("; "))))?;
    let text = imported.yaml().map_err(|error| CliError::Io(format!("writing the contracts: {error}")))?;
    write_out(&text)?;
    Ok(imported.notes)
}

fn write_out(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|error| CliError::Io(format!("standard output: {error}")))
}
