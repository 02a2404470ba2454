//! Preparing a multi-step HTTP check's `http.steps`: names, URLs and headers made from templates whose
//! `${steps.NAME.CAPTURE}` references name an earlier step's capture, each step's expectations, and its captures.

use std::collections::HashSet;
use std::str::FromStr;

use http::{HeaderName, HeaderValue, Method};
use url::Url;

use super::{Problems, expectations, is_valid_label};
use crate::check::{HttpExpect, HttpSettings};
use crate::spec::{Capture, CaptureSource, HttpStep};
use crate::steps::HttpStepSettings;
use crate::template::{Declared, STEP_REFERENCE, Template};
use slaprobe_proto::capture::MAX_STEPS;

/// What stands in for a captured value when a template is checked at load time.
const PLACEHOLDER: &str = "captured";

/// The steps of `settings`, or `None` when one is invalid (each problem added); empty without `steps:`.
pub(super) fn prepare(settings: &HttpSettings, problems: &mut Problems<'_>) -> Option<Vec<HttpStep>> {
    if settings.steps.is_empty() {
        return Some(Vec::new());
    }
    if settings.steps.len() > MAX_STEPS {
        problems.add("http.steps", format!("{} steps, more than {MAX_STEPS}", settings.steps.len()));
    }
    if settings.method != "GET" || settings.body.is_some() || settings.expect != HttpExpect::default() {
        problems.add("http.steps", "with steps, method, body and expect belong to each step, not to http");
    }
    for (name, value) in &settings.headers {
        if value.contains(STEP_REFERENCE) {
            problems.add(&format!("http.headers.{name}"), "step references belong in a step's headers");
        }
    }
    let mut declared: Vec<Declared<'_>> = Vec::new();
    let mut names = HashSet::new();
    let mut steps = Vec::new();
    let mut valid = true;
    for (index, step) in settings.steps.iter().enumerate() {
        let field = format!("http.steps[{index}]");
        if !is_valid_label(&step.name) {
            problems.add(&format!("{field}.name"), format!("{:?} must match [a-z0-9._-]{{1,64}}", step.name));
        } else if !names.insert(step.name.as_str()) {
            problems.add(&format!("{field}.name"), format!("duplicate step name {:?}", step.name));
        }
        match prepare_step(step, &field, &declared, problems) {
            Some(prepared) => steps.push(prepared),
            None => valid = false,
        }
        declared.push(Declared { step: &step.name, captures: step.capture.keys().map(String::as_str).collect() });
    }
    valid.then_some(steps)
}

fn prepare_step(
    step: &HttpStepSettings,
    field: &str,
    earlier: &[Declared<'_>],
    problems: &mut Problems<'_>,
) -> Option<HttpStep> {
    let before = problems.list.len();
    let template = |text: &str, at: &str, problems: &mut Problems<'_>| {
        Template::parse(text, earlier).map_err(|error| problems.add(&format!("{field}.{at}"), error)).ok()
    };
    let url = step.url.as_deref().map(|text| template(text, "url", problems));
    if let Some(Some(url)) = &url {
        let example = url.with_placeholder(PLACEHOLDER);
        if !Url::parse(&example).is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some()) {
            problems.add(&format!("{field}.url"), "is not an http:// or https:// URL with a host");
        }
    }
    let method = Method::from_str(&step.method)
        .map_err(|_| problems.add(&format!("{field}.method"), format!("{:?} is not an HTTP method", step.method)))
        .ok();
    let mut headers = Vec::new();
    for (name, value) in &step.headers {
        let at = format!("headers.{name}");
        let Ok(header) = HeaderName::from_str(name) else {
            problems.add(&format!("{field}.{at}"), "not a valid header name");
            continue;
        };
        let Some(value) = template(value, &at, problems) else { continue };
        if HeaderValue::from_str(&value.with_placeholder(PLACEHOLDER)).is_err() {
            problems.add(&format!("{field}.{at}"), "value has characters not allowed in a header");
        }
        headers.push((header, value));
    }
    let body = step.body.as_deref().map(|text| template(text, "body", problems));
    let expect = expectations(&step.expect, &format!("{field}.expect"), problems);
    let mut captures = Vec::new();
    for (name, settings) in &step.capture {
        let at = format!("{field}.capture.{name}");
        if !is_valid_label(name) {
            problems.add(&at, format!("{name:?} must match [a-z0-9._-]{{1,64}}"));
        }
        let source = match (&settings.json, &settings.header, &settings.regex) {
            (Some(pointer), None, None) if pointer.is_empty() || pointer.starts_with('/') => {
                Some(CaptureSource::Json(pointer.clone()))
            }
            (Some(pointer), None, None) => {
                problems.add(&format!("{at}.json"), format!("{pointer:?} is not a JSON pointer (`/access_token`)"));
                None
            }
            (None, Some(header), None) => match HeaderName::from_str(header) {
                Ok(header) => Some(CaptureSource::Header(header)),
                Err(_) => {
                    problems.add(&format!("{at}.header"), format!("{header:?} is not a header name"));
                    None
                }
            },
            (None, None, Some(pattern)) => match problems.regex(&format!("{at}.regex"), Some(pattern)) {
                Some(regex) if regex.captures_len() > 1 => Some(CaptureSource::Regex(regex)),
                Some(_) => {
                    problems.add(&format!("{at}.regex"), "needs a group: the value is what the first group matches");
                    None
                }
                None => None,
            },
            _ => {
                problems.add(&at, "give exactly one of json, header and regex");
                None
            }
        };
        captures.extend(source.map(|source| Capture { name: name.clone(), source }));
    }
    if problems.list.len() > before {
        return None;
    }
    Some(HttpStep {
        name: step.name.clone(),
        url: url.flatten(),
        method: method?,
        headers,
        body: body.flatten(),
        expect,
        captures,
    })
}
