//! The YAML of a multi-step HTTP check (`http.steps:`), exactly as written: each step a request on a fresh
//! connection with its own expectations, capturing values that later steps use as `${steps.NAME.CAPTURE}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::check::HttpExpect;

/// One step of `http.steps:`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpStepSettings {
    /// Name, `[a-z0-9._-]{1,64}`, unique in the check; later steps refer to its captures by it.
    pub name: String,
    /// Request URL; default: the check's target. May use `${steps.NAME.CAPTURE}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Request method.
    #[serde(default = "default_method")]
    pub method: String,
    /// Request headers, added to the check's `http.headers`; values may use `${VAR}` and
    /// `${steps.NAME.CAPTURE}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Request body; may use `${VAR}` and `${steps.NAME.CAPTURE}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// What the response must satisfy.
    #[serde(default)]
    pub expect: HttpExpect,
    /// Values taken from the response, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capture: BTreeMap<String, CaptureSettings>,
}

/// Where a captured value comes from: exactly one of the three.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureSettings {
    /// A JSON pointer into the body (`/access_token`); a string is taken as is, another value as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<String>,
    /// A response header's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// A regex over the body; its first group is the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

fn default_method() -> String {
    "GET".to_owned()
}
