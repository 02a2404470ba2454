//! slaprobe-checks: the check format that agents run and the collector pushes (`docs/checks.md`), shared by both
//! so that a check list the collector accepts is one every agent accepts.
//!
//! A check goes from YAML to a ready-to-probe [`PreparedCheck`]: `${VAR}` expansion on the parsed values, then
//! deserialisation of each check on its own (one bad check does not hide the next), then validation. Every
//! problem is reported at once, each with its path (`checks[2].interval: ...`).
//!
//! Layout:
//! - [`check`]: the YAML shape of a check; [`kinds`]: the sections of the `tls`, `grpc` and `icmp` kinds;
//!   [`steps`]: the steps of a multi-step HTTP check, and [`template`]: their `${steps.NAME.CAPTURE}` references.
//! - [`env`]: `${VAR}` expansion.
//! - [`validate`]: checks → [`PreparedCheck`]s, with every problem and its path.
//! - [`spec`]: [`PreparedCheck`] and the per-kind specs the probes run (parsed URLs, compiled regexes, TLS).
//! - [`tls`]: the TLS client configurations probes connect with.
//! - [`phase`]: where in its interval a check's slots fall, and how agents probing one check are staggered.
//! - [`split`]: a document's block lists cut into items, so long lists are read one check at a time.
//! - [`document`]: the `checks:` list, the document the collector pushes and its version.
//! - [`problems`]: [`ConfigError`] and path-aware deserialisation, used for every slaprobe config file.
#![forbid(unsafe_code)]

pub mod check;
pub mod document;
pub mod env;
pub mod kinds;
pub mod phase;
pub mod problems;
pub mod spec;
pub mod split;
pub mod steps;
pub mod template;
pub mod tls;
pub mod validate;

pub use check::{Check, CheckKind, ConfirmSettings};
pub use document::{
    ChecksDocument, as_controls, item_value, parse_check_items, parse_checks, parse_checks_document,
    parse_control_checks,
};
pub use phase::{offset_of, slot_offset, staggered};
pub use problems::{ConfigError, deserialize_at};
pub use spec::{PreparedCheck, ProbeSpec};
pub use validate::is_valid_label;
