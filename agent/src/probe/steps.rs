//! Multi-step HTTP checks (`http.steps`): the steps run in order, each a request on fresh connections (redirects
//! followed as configured) made from its templates with the values earlier steps captured, judged by its own
//! expectations; then its captures are taken from the response. The first step that fails ends the attempt and
//! is named in its error (`http_status: step "balance" (2 of 2): got 401 Unauthorized, …`).
//!
//! The result's `http.steps` lists each step run with its status, time and phases; the attempt's phases are their
//! sums, and the other `http` fields describe the last step run. Captured values are credentials (an OAuth
//! token, a session): they are never recorded, and are taken out of everything the result keeps; a capturing
//! step that fails after its status was accepted keeps no body, which may hold credentials it did not capture.

use http::{HeaderMap, HeaderValue};
use serde_json::Value;
use slaprobe_checks::spec::{CaptureSource, HttpSpec, HttpStep};
use slaprobe_proto::{HttpStepDetail, Phases};
use tokio::time::Instant;
use url::Url;

use super::http::{Planned, Response, request};
use super::{Attempt, ErrorKind, Failure, ProbeContext, round_micros};

/// Runs every step of `spec` in order, stopping at the first that fails.
pub async fn run(context: &ProbeContext, spec: &HttpSpec, attempt: &mut Attempt) -> Result<(), Failure> {
    let mut captured: Vec<Vec<String>> = Vec::with_capacity(spec.settings.steps.len());
    for (index, step) in spec.settings.steps.iter().enumerate() {
        let (started, phases_before) = (Instant::now(), attempt.phases.clone());
        let detail = attempt.http.get_or_insert_default();
        let (steps, cert_expires_at) = (std::mem::take(&mut detail.steps), detail.cert_expires_at);
        *detail = slaprobe_proto::HttpDetail { steps, cert_expires_at, ..Default::default() };
        attempt.step = Some(format!("step {:?} ({} of {})", step.name, index + 1, spec.settings.steps.len()));
        let outcome = run_step(context, spec, step, &captured, attempt).await;
        let record = HttpStepDetail {
            name: step.name.clone(),
            status: attempt.http.as_ref().and_then(|detail| detail.status),
            duration_ms: Some(round_micros(started.elapsed().as_secs_f64() * 1000.0)),
            phases_ms: phases_since(&attempt.phases, &phases_before),
            ok: outcome.is_ok(),
        };
        attempt.http.get_or_insert_default().steps.push(record);
        match outcome {
            Ok(values) => captured.push(values),
            Err(mut failure) => {
                let kind = failure.kind.as_str();
                let rest = failure.message.strip_prefix(&format!("{kind}: ")).unwrap_or(&failure.message);
                let step_name = attempt.step.take().unwrap_or_default();
                failure.message = format!("{kind}: {step_name}: {rest}");
                return Err(failure);
            }
        }
    }
    attempt.step = None;
    Ok(())
}

/// One step: its request made from the captures so far, then its own captures.
async fn run_step(
    context: &ProbeContext,
    spec: &HttpSpec,
    step: &HttpStep,
    captured: &[Vec<String>],
    attempt: &mut Attempt,
) -> Result<Vec<String>, Failure> {
    let url = match &step.url {
        None => spec.url.clone(),
        Some(template) => Url::parse(&template.render(captured)).map_err(|error| {
            Failure::new(ErrorKind::Http, format!("http: the URL made from captured values is not valid: {error}"))
        })?,
    };
    let mut headers: HeaderMap = spec.settings.headers().clone();
    for (name, template) in &step.headers {
        let value = HeaderValue::from_str(&template.render(captured)).map_err(|_| {
            Failure::new(ErrorKind::Http, format!("http: header {name} made from captured values is not valid"))
        })?;
        headers.insert(name.clone(), value);
    }
    let planned = Planned {
        url,
        method: step.method.clone(),
        headers: &headers,
        body: step.body.as_ref().map(|template| template.render(captured)),
        expect: &step.expect,
        keep_body: !step.captures.is_empty(),
    };
    let response = match request(context, spec, planned, attempt).await {
        Ok(response) => response,
        Err(failure) => {
            forget_issued_body(step, attempt);
            return Err(failure);
        }
    };
    let mut values = Vec::with_capacity(step.captures.len());
    for capture in &step.captures {
        match take(&capture.name, &capture.source, &response, attempt) {
            Ok(value) => {
                // A secret from now on, even if a later capture of this step fails.
                attempt.secrets.push(value.clone());
                values.push(value);
            }
            Err(failure) => {
                forget_issued_body(step, attempt);
                return Err(failure);
            }
        }
    }
    Ok(values)
}

/// A step that captures failed after its status was accepted: its response may have issued credentials that were
/// not (all) captured, so its body is not kept for the failure capture.
fn forget_issued_body(step: &HttpStep, attempt: &mut Attempt) {
    let status = attempt.http.as_ref().and_then(|detail| detail.status);
    let accepted = status.is_some_and(|status| step.expect.status.iter().any(|range| range.contains(&status)));
    if !step.captures.is_empty() && accepted {
        attempt.pending.body_head.clear();
    }
}

/// A captured value, or the assertion that failed for want of it.
fn take(name: &str, source: &CaptureSource, response: &Response, attempt: &Attempt) -> Result<String, Failure> {
    let missing = |what: String| Failure::new(ErrorKind::Assertion, format!("assertion: capture {name}: {what}"));
    match source {
        CaptureSource::Json(pointer) => {
            let body: Value = serde_json::from_slice(&response.body)
                .map_err(|error| missing(format!("the body is not JSON ({error})")))?;
            match body.pointer(pointer) {
                Some(Value::String(text)) => Ok(text.clone()),
                Some(Value::Null) | None => Err(missing(format!("the JSON body has nothing at {pointer}"))),
                Some(other) => Ok(other.to_string()),
            }
        }
        CaptureSource::Header(header) => attempt
            .pending
            .headers
            .as_ref()
            .and_then(|headers| headers.get(header))
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| missing(format!("the response has no {header} header"))),
        CaptureSource::Regex(regex) => regex
            .captures(&String::from_utf8_lossy(&response.body))
            .and_then(|groups| groups.get(1))
            .map(|group| group.as_str().to_owned())
            .ok_or_else(|| missing(format!("the body does not match /{regex}/"))),
    }
}

/// The phases measured since `before` (phases add up over the steps).
fn phases_since(now: &Phases, before: &Phases) -> Phases {
    let since = |now: Option<f64>, before: Option<f64>| match (now, before) {
        (Some(now), Some(before)) if now > before => Some(round_micros(now - before)),
        (Some(now), None) => Some(now),
        _ => None,
    };
    Phases {
        dns: since(now.dns, before.dns),
        connect: since(now.connect, before.connect),
        tls: since(now.tls, before.tls),
        ttfb: since(now.ttfb, before.ttfb),
        transfer: since(now.transfer, before.transfer),
    }
}
