//! How a configuration that does not load is reported: every problem at once, each prefixed with the path of the
//! value it concerns, so that one run of `--check` lists everything to fix.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

/// A configuration that failed to load: every problem, each with its path.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// The file (or other source) that was read.
    pub source_name: String,
    /// One line per problem, `path: what is wrong`.
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        writeln!(f, "{}: {count} problem{}:", self.source_name, if count == 1 { "" } else { "s" })?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

/// Deserialises `value`, turning a failure into `path.inner.path: message`.
pub fn deserialize_at<T: DeserializeOwned>(value: Value, path: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let inner = error.path().to_string();
        let full = match (path.is_empty(), inner == ".") {
            (true, true) => "(document)".to_owned(),
            (true, false) => inner,
            (false, true) => path.to_owned(),
            (false, false) if inner.starts_with('[') => format!("{path}{inner}"),
            (false, false) => format!("{path}.{inner}"),
        };
        format!("{full}: {}", error.into_inner())
    })
}
