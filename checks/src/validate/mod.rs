//! Validation: a [`Check`] as written becomes a [`PreparedCheck`] ready to probe, or a list of problems, each
//! with its path. Everything that can be decided once is decided here (URLs parsed, regexes compiled, TLS
//! configurations built, the DNS server chosen).
//!
//! The `tls`, `grpc` and `icmp` kinds are prepared in [`kinds`], the steps of a multi-step HTTP check in [`steps`].

mod kinds;
mod steps;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use regex::Regex;
use rustls::ClientConfig;
use url::Url;

use crate::check::{Check, CheckKind, HttpExpect, HttpSettings, StatusSpec, TcpSettings};
use crate::spec::{
    DNS_RECORD_TYPES, DnsSpec, HttpExpectations, HttpProbeSettings, HttpSpec, PreparedCheck, ProbeSpec, RCODES, TcpSpec,
};
use crate::tls::{self, Alpn, TlsOptions};

/// True for `[a-z0-9._-]{1,64}`, the shape of check ids, regions and agent ids.
pub fn is_valid_label(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

/// Prepares checks, sharing TLS configurations between checks with equal TLS options, and prepared `http:`
/// sections between checks with equal sections.
#[derive(Default)]
pub struct Preparer {
    tls_configs: HashMap<TlsOptions, Arc<ClientConfig>>,
    /// Keyed by the section as JSON (`None`: no section).
    http_settings: HashMap<Option<String>, Arc<HttpProbeSettings>>,
}

/// Collects problems for one check.
struct Problems<'a> {
    path: &'a str,
    list: Vec<String>,
}

impl Problems<'_> {
    fn add(&mut self, field: &str, message: impl std::fmt::Display) {
        self.list.push(format!("{}.{field}: {message}", self.path));
    }

    fn regex(&mut self, field: &str, pattern: Option<&String>) -> Option<Regex> {
        let pattern = pattern?;
        Regex::new(pattern).map_err(|error| self.add(field, format!("invalid regex: {}", regex_cause(&error)))).ok()
    }
}

impl Preparer {
    /// Validates `check`; `path` prefixes every problem (`checks[3]`).
    pub fn prepare(&mut self, check: Check, path: &str) -> Result<PreparedCheck, Vec<String>> {
        let mut problems = Problems { path, list: Vec::new() };
        if !is_valid_label(&check.id) {
            problems.add("id", format!("{:?} must match [a-z0-9._-]{{1,64}}", check.id));
        }
        if check.interval < Duration::from_secs(1) {
            problems
                .add("interval", format!("{} is below the minimum of 1s", humantime::format_duration(check.interval)));
        }
        let timeout = check.timeout.unwrap_or_else(|| (check.interval / 2).min(Duration::from_secs(10)));
        if check.interval >= Duration::from_secs(1) && (timeout.is_zero() || timeout >= check.interval) {
            problems.add(
                "timeout",
                format!(
                    "{} must be above 0 and below the interval ({})",
                    humantime::format_duration(timeout),
                    humantime::format_duration(check.interval)
                ),
            );
        }
        if check.phase.is_some_and(|phase| phase >= check.interval) {
            problems.add("phase", "must be below the interval");
        }
        if let Some(confirm) = &check.confirm {
            if confirm.after < Duration::from_secs(1) || confirm.after >= check.interval {
                problems.add(
                    "confirm.after",
                    format!(
                        "{} must be at least 1s and below the interval ({})",
                        humantime::format_duration(confirm.after),
                        humantime::format_duration(check.interval)
                    ),
                );
            }
            if confirm.attempts.is_some_and(|attempts| !(1..=1000).contains(&attempts)) {
                problems.add("confirm.attempts", "must be from 1 to 1000");
            }
        }
        if let Some(regions) = &check.regions {
            for (index, region) in regions.iter().enumerate() {
                if !is_valid_label(region) {
                    problems.add(&format!("regions[{index}]"), format!("{region:?} must match [a-z0-9._-]{{1,64}}"));
                }
            }
        }
        for (section, present, kind) in [
            ("http", check.http.is_some(), CheckKind::Http),
            ("dns", check.dns.is_some(), CheckKind::Dns),
            ("tcp", check.tcp.is_some(), CheckKind::Tcp),
            ("tls", check.tls.is_some(), CheckKind::Tls),
            ("grpc", check.grpc.is_some(), CheckKind::Grpc),
            ("icmp", check.icmp.is_some(), CheckKind::Icmp),
        ] {
            if present && kind != check.kind {
                problems.add(section, format!("not allowed on a `kind: {}` check", check.kind.as_str()));
            }
        }
        let spec = match check.kind {
            CheckKind::Http => self.prepare_http(&check, &mut problems).map(|spec| ProbeSpec::Http(Arc::new(spec))),
            CheckKind::Dns => self.prepare_dns(&check, &mut problems).map(|spec| ProbeSpec::Dns(Arc::new(spec))),
            CheckKind::Tcp => self.prepare_tcp(&check, &mut problems).map(|spec| ProbeSpec::Tcp(Arc::new(spec))),
            CheckKind::Tls => self.prepare_tls(&check, &mut problems).map(|spec| ProbeSpec::Tls(Arc::new(spec))),
            CheckKind::Grpc => self.prepare_grpc(&check, &mut problems).map(|spec| ProbeSpec::Grpc(Arc::new(spec))),
            CheckKind::Icmp => kinds::prepare_icmp(&check, &mut problems).map(|spec| ProbeSpec::Icmp(Arc::new(spec))),
        };
        match spec {
            Some(spec) if problems.list.is_empty() => Ok(PreparedCheck { check: Arc::new(check), timeout, spec }),
            _ => Err(problems.list),
        }
    }

    fn tls_config(&mut self, options: TlsOptions) -> Result<Arc<ClientConfig>, String> {
        if let Some(config) = self.tls_configs.get(&options) {
            return Ok(config.clone());
        }
        let config = tls::client_config(&options)?;
        self.tls_configs.insert(options, config.clone());
        Ok(config)
    }

    fn prepare_http(&mut self, check: &Check, problems: &mut Problems<'_>) -> Option<HttpSpec> {
        let url = match Url::parse(&check.target) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Some(url),
            // Shown redacted: a target may carry a password or an API key in its query.
            Ok(url) => {
                let shown = slaprobe_proto::redact::redact(&url);
                problems.add("target", format!("{shown:?} is not an http:// or https:// URL with a host"));
                None
            }
            Err(error) if check.target.contains(['@', '?']) => {
                problems.add("target", format!("not a URL ({error}); not shown, it may hold credentials"));
                None
            }
            Err(error) => {
                problems.add("target", format!("{:?} is not a URL: {error}", check.target));
                None
            }
        };
        let settings = self.http_settings(check.http.as_deref(), problems);
        Some(HttpSpec { url: url?, settings: settings? })
    }

    /// The prepared `http:` section, shared with earlier checks that wrote the same one.
    fn http_settings(
        &mut self,
        written: Option<&HttpSettings>,
        problems: &mut Problems<'_>,
    ) -> Option<Arc<HttpProbeSettings>> {
        let key = written.and_then(|settings| serde_json::to_string(settings).ok());
        if let Some(prepared) = self.http_settings.get(&key) {
            return Some(prepared.clone());
        }
        let problems_before = problems.list.len();
        let settings = written.cloned().unwrap_or_default();
        let method = Method::from_str(&settings.method)
            .map_err(|_| problems.add("http.method", format!("{:?} is not an HTTP method", settings.method)))
            .ok();
        let headers = header_map(&settings.headers, "http.headers", problems);
        let mut sensitive_headers = Vec::new();
        for (index, name) in settings.sensitive_headers.iter().enumerate() {
            match HeaderName::from_str(name) {
                Ok(header) => sensitive_headers.push(header),
                Err(_) => {
                    problems.add(&format!("http.sensitive_headers[{index}]"), format!("{name:?} is not a header name"))
                }
            }
        }
        let expect = expectations(&settings.expect, "http.expect", problems);
        let steps = steps::prepare(&settings, problems);
        let proxy = settings.proxy.as_ref().and_then(|proxy| match Url::parse(proxy) {
            Ok(url) if url.scheme() == "http" && url.host().is_some() => Some(Box::new(url)),
            _ => {
                problems.add("http.proxy", format!("{proxy:?} is not an http://host:port proxy URL"));
                None
            }
        });
        let client_identity =
            client_identity(settings.client_cert.as_ref(), settings.client_key.as_ref(), "http", problems);
        let tls = self
            .tls_config(TlsOptions {
                verify: settings.tls_verify,
                ca_file: settings.ca_file.clone(),
                client_identity,
                alpn: Alpn::Http,
            })
            .map_err(|error| problems.add("http", error))
            .ok();
        let prepared = Arc::new(HttpProbeSettings {
            method: method?,
            headers: Some(headers?).filter(|headers| !headers.is_empty()).map(Box::new),
            sensitive_headers,
            body: settings.body,
            max_redirects: settings.max_redirects,
            follow_redirects: settings.follow_redirects,
            tls: tls?,
            proxy,
            ip_version: settings.ip_version,
            expect,
            steps: steps?,
        });
        // Shared only when it is right: a section with a problem is reported for every check that writes it.
        if problems.list.len() == problems_before {
            self.http_settings.insert(key, prepared.clone());
        }
        Some(prepared)
    }

    fn prepare_dns(&mut self, check: &Check, problems: &mut Problems<'_>) -> Option<DnsSpec> {
        let settings = check.dns.as_deref().cloned().unwrap_or_default();
        let name = Name::from_ascii(&check.target)
            .map(|mut name| {
                name.set_fqdn(true);
                name
            })
            .map_err(|error| problems.add("target", format!("{:?} is not a domain name: {error}", check.target)))
            .ok();
        let record = settings.record.to_ascii_uppercase();
        let record_type = if DNS_RECORD_TYPES.contains(&record.as_str()) {
            RecordType::from_str(&record).ok()
        } else {
            problems.add("dns.record", format!("{:?} is not one of {}", settings.record, DNS_RECORD_TYPES.join(", ")));
            None
        };
        let server = match &settings.server {
            Some(text) => parse_server(text).map(Some).map_err(|error| problems.add("dns.server", error)).ok(),
            None => Some(None),
        };
        let rcode_text = settings.expect.rcode.as_deref().unwrap_or("NOERROR").to_ascii_uppercase();
        let rcode = match RCODES.iter().find(|(name, _)| *name == rcode_text) {
            Some((_, value)) => Some(<ResponseCode as From<u16>>::from(*value)),
            None => {
                let names: Vec<&str> = RCODES.iter().map(|(name, _)| *name).collect();
                problems.add("dns.expect.rcode", format!("{rcode_text:?} is not one of {}", names.join(", ")));
                None
            }
        };
        let min_answers = settings.expect.min_answers.unwrap_or(if rcode_text == "NOERROR" { 1 } else { 0 });
        let answer_regex = problems.regex("dns.expect.answer_regex", settings.expect.answer_regex.as_ref());
        Some(DnsSpec {
            name: name?,
            record_type: record_type?,
            server: server?,
            protocol: settings.protocol,
            rcode: rcode?,
            min_answers,
            answer_regex,
        })
    }

    fn prepare_tcp(&mut self, check: &Check, problems: &mut Problems<'_>) -> Option<TcpSpec> {
        let settings: TcpSettings = check.tcp.as_deref().cloned().unwrap_or_default();
        let target = split_host_port(&check.target)
            .map_err(|error| problems.add("target", format!("{:?} {error}", check.target)))
            .ok();
        let tls = if settings.tls {
            self.tls_config(TlsOptions {
                verify: settings.tls_verify,
                ca_file: settings.ca_file.clone(),
                client_identity: None,
                alpn: Alpn::None,
            })
            .map_err(|error| problems.add("tcp", error))
            .ok()
            .map(Some)
        } else {
            Some(None)
        };
        let expect_regex = problems.regex("tcp.expect_regex", settings.expect_regex.as_ref());
        let (host, port) = target?;
        Some(TcpSpec {
            host,
            port,
            ip_version: settings.ip_version,
            tls: tls?,
            send: settings.send.map(String::into_bytes),
            expect_regex,
        })
    }
}

/// The client certificate and key, which come together or not at all.
fn client_identity(
    cert: Option<&PathBuf>,
    key: Option<&PathBuf>,
    section: &str,
    problems: &mut Problems<'_>,
) -> Option<(PathBuf, PathBuf)> {
    match (cert, key) {
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        (None, None) => None,
        _ => {
            problems.add(&format!("{section}.client_cert"), "client_cert and client_key must be given together");
            None
        }
    }
}

/// The one-line cause of a regex error (the full message draws the pattern over several lines).
fn regex_cause(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().last().unwrap_or_default();
    last.trim_start_matches("error: ").to_owned()
}

/// `written` as headers; `section` prefixes each problem's field (`http.headers.X-Key`).
fn header_map(written: &BTreeMap<String, String>, section: &str, problems: &mut Problems<'_>) -> Option<HeaderMap> {
    let mut headers = HeaderMap::new();
    let mut valid = true;
    for (name, value) in written {
        let field = format!("{section}.{name}");
        match (HeaderName::from_str(name), HeaderValue::from_str(value)) {
            (Ok(name), Ok(value)) => {
                headers.append(name, value);
            }
            (Err(_), _) => {
                problems.add(&field, "not a valid header name");
                valid = false;
            }
            (_, Err(_)) => {
                problems.add(&field, "value has characters not allowed in a header");
                valid = false;
            }
        }
    }
    valid.then_some(headers)
}

/// What `expect` (at `field`, `http.expect` or `http.steps[1].expect`) asks of a response.
fn expectations(expect: &HttpExpect, field: &str, problems: &mut Problems<'_>) -> HttpExpectations {
    let status = status_ranges(&expect.status, field, problems);
    let body_regex = problems.regex(&format!("{field}.body_regex"), expect.body_regex.as_ref());
    let mut header_regex = Vec::new();
    for (name, pattern) in &expect.header_regex {
        let header_field = format!("{field}.header_regex.{name}");
        match HeaderName::from_str(name) {
            Ok(header) => {
                header_regex.extend(problems.regex(&header_field, Some(pattern)).map(|regex| (header, regex)))
            }
            Err(_) => problems.add(&header_field, "not a valid header name"),
        }
    }
    HttpExpectations {
        status,
        body_regex,
        header_regex,
        max_latency: expect.max_latency,
        cert_min_days: expect.cert_min_days,
    }
}

fn status_ranges(specs: &[StatusSpec], field: &str, problems: &mut Problems<'_>) -> Vec<RangeInclusive<u16>> {
    let mut ranges = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        let parsed = match spec {
            StatusSpec::Code(code) => Some(*code..=*code),
            StatusSpec::Text(text) => parse_status_range(text),
        };
        match parsed {
            Some(range)
                if (100..=599).contains(range.start()) && (100..=599).contains(range.end()) && !range.is_empty() =>
            {
                ranges.push(range)
            }
            _ => {
                let shown = match spec {
                    StatusSpec::Code(code) => code.to_string(),
                    StatusSpec::Text(text) => format!("{text:?}"),
                };
                problems.add(
                    &format!("{field}.status[{index}]"),
                    format!("{shown} is not a status or a range like \"200-299\""),
                );
            }
        }
    }
    if specs.is_empty() {
        problems.add(&format!("{field}.status"), "must list at least one status or range");
    }
    ranges
}

fn parse_status_range(text: &str) -> Option<RangeInclusive<u16>> {
    let (low, high) = text.split_once('-').unwrap_or((text, text));
    Some(low.trim().parse().ok()?..=high.trim().parse().ok()?)
}

fn parse_server(text: &str) -> Result<SocketAddr, String> {
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    text.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("{text:?} is not an IP address or ip:port"))
}

/// Splits `host:port` (`[v6]:port` for IPv6 literals).
pub fn split_host_port(target: &str) -> Result<(String, u16), String> {
    let (host, port) = target.rsplit_once(':').ok_or("is not host:port")?;
    let port: u16 = port.parse().map_err(|_| "has no valid port")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port == 0 {
        return Err("is not host:port".to_owned());
    }
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests;
