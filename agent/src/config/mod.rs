//! The agent's process configuration, `agent.yaml` (`docs/configuration.md`): its settings, and its own checks in
//! the format of `slaprobe_checks` (`docs/checks.md`).
//!
//! Loading goes: read the file, parse YAML, expand `${VAR}` in every string value, deserialise the settings and
//! each check on its own so that one bad check does not hide the next, then validate. Every problem found is
//! reported at once, each with its path (`checks[2].interval: ...`); the binary exits with status 64 on any.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::probe::icmp;
use serde::Deserialize;
use serde_yaml_ng::Value;
use slaprobe_checks::split::{Item, cut_lists};
use slaprobe_checks::{
    ConfigError, PreparedCheck, as_controls, deserialize_at, env, is_valid_label, item_value, parse_check_items,
    parse_checks,
};

/// The agent's settings, everything of `agent.yaml` but the checks.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    /// This agent's id; defaults to `region`.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Region label stamped on every result.
    pub region: String,
    /// Collector URL(s); absent means standalone.
    #[serde(default)]
    pub collector: Option<OneOrMany>,
    /// Token presented to the collector.
    #[serde(default)]
    pub token: Option<String>,
    /// TLS towards `https://` collectors: a CA to trust besides the system's, and a client certificate.
    #[serde(default)]
    pub collector_tls: Option<CollectorTls>,
    /// Allow `http://` collector URLs to other machines: the token and the results then cross the network in
    /// the clear (a trusted private network only).
    #[serde(default)]
    pub collector_insecure: bool,
    /// Directory for the spool and the last pushed config.
    #[serde(default = "default_spool_dir")]
    pub spool_dir: PathBuf,
    /// Local address every probe is sent from.
    #[serde(default)]
    pub source_ip: Option<IpAddr>,
    /// The resolver configuration probes use (resolv.conf syntax): its nameservers resolve the targets' names,
    /// and the first is what DNS checks without `dns.server` query.
    #[serde(default = "default_resolv_conf")]
    pub resolv_conf: PathBuf,
    /// How the log reads: `text` (default) or `json`, one object per line.
    #[serde(default)]
    pub log_format: slaprobe_proto::logging::LogFormat,
    /// Most bytes the spool may hold while the collector is away; beyond it the oldest results are dropped
    /// and reported as a gap.
    #[serde(default = "default_spool_max_bytes")]
    pub spool_max_bytes: u64,
    /// Probes in flight at most; further due probes wait for a free slot.
    #[serde(default = "default_max_concurrent_probes")]
    pub max_concurrent_probes: usize,
    /// Address of the Prometheus metrics listener (`/metrics`, `/healthz`); absent means none.
    #[serde(default)]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Threads that run probes. Probes mostly wait on the network, so one thread keeps CPU per probe lowest;
    /// raise it for thousands of TLS checks or heavy body regexes.
    #[serde(default = "default_worker_threads")]
    pub worker_threads: usize,
    /// A signed checkpoint of the result chain at least this often while results flow (`docs/evidence.md`).
    #[serde(default = "default_checkpoint_every", with = "humantime_serde")]
    pub checkpoint_every: std::time::Duration,
    /// …and at least every this many results.
    #[serde(default = "default_checkpoint_results")]
    pub checkpoint_results: u64,
}

/// `collector_tls:` PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorTls {
    /// A CA certificate to trust for the collector, besides the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate, for collectors that demand one (with `key_file`).
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

/// A string or a list of strings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Several values.
    Many(Vec<String>),
}

fn default_resolv_conf() -> PathBuf {
    PathBuf::from("/etc/resolv.conf")
}

fn default_spool_dir() -> PathBuf {
    PathBuf::from("/var/lib/slaprobe-agent")
}

fn default_max_concurrent_probes() -> usize {
    1024
}

fn default_spool_max_bytes() -> u64 {
    1 << 30
}

fn default_worker_threads() -> usize {
    1
}

fn default_checkpoint_every() -> std::time::Duration {
    crate::signing::CHECKPOINT_INTERVAL
}

fn default_checkpoint_results() -> u64 {
    crate::signing::CHECKPOINT_RESULTS
}

/// A loaded and validated `agent.yaml`.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Process settings.
    pub settings: AgentSettings,
    /// Validated checks, in file order.
    pub checks: Vec<PreparedCheck>,
    /// This agent's own control checks (`control_checks:`), probed besides whatever checks it runs, pushed or
    /// local.
    pub controls: Vec<PreparedCheck>,
}

impl AgentConfig {
    /// The collector URLs, in failover order (empty when standalone).
    pub fn collectors(&self) -> Vec<String> {
        match &self.settings.collector {
            Some(OneOrMany::One(url)) => vec![url.clone()],
            Some(OneOrMany::Many(urls)) => urls.clone(),
            None => Vec::new(),
        }
    }

    /// The agent id: `agent_id`, or the region when unset.
    pub fn agent_id(&self) -> &str {
        self.settings.agent_id.as_deref().unwrap_or(&self.settings.region)
    }

    /// The checks this agent's region runs, its own controls included.
    pub fn checks_for_region(&self) -> impl Iterator<Item = &PreparedCheck> {
        let region = &self.settings.region;
        self.checks.iter().chain(&self.controls).filter(move |prepared| runs_in_region(prepared, region))
    }

    /// Takes out the checks this agent's region runs, its own controls included (copied; they stay for later
    /// pushes): the scheduler then holds the only copy of each check, however many there are.
    pub fn take_checks_for_region(&mut self) -> Vec<PreparedCheck> {
        let region = &self.settings.region;
        let mut checks: Vec<PreparedCheck> = std::mem::take(&mut self.checks);
        checks.retain(|prepared| runs_in_region(prepared, region));
        checks.extend(self.controls.iter().filter(|prepared| runs_in_region(prepared, region)).cloned());
        checks
    }
}

/// Whether `prepared` runs in `region` (it names no regions, or names this one).
pub fn runs_in_region(prepared: &PreparedCheck, region: &str) -> bool {
    prepared.check.regions.as_ref().is_none_or(|regions| regions.iter().any(|candidate| candidate == region))
}

/// `pushed` (the checks the collector pushed for this region) with the agent's own controls added, except one
/// whose id a pushed check already has (the collector's list wins).
pub fn with_own_controls(mut pushed: Vec<PreparedCheck>, controls: &[PreparedCheck]) -> Vec<PreparedCheck> {
    let own: Vec<PreparedCheck> = (controls.iter())
        .filter(|control| pushed.iter().all(|check| check.check.id != control.check.id))
        .cloned()
        .collect();
    pushed.extend(own);
    pushed
}

/// Reads and validates an agent config file, expanding `${VAR}` from the process environment
/// ([`environment_variable`]).
pub fn load_agent_config(path: &Path) -> Result<AgentConfig, ConfigError> {
    let source_name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
        source_name: source_name.clone(),
        problems: vec![format!("cannot read: {error}")],
    })?;
    parse_agent_config(&text, &source_name, &environment_variable)
}

/// `name` from the process environment. `HOSTNAME`, which shells set but services do not inherit, falls back
/// to the kernel's host name in lower case, so that `agent_id: ${HOSTNAME}` names each host under systemd too.
fn environment_variable(name: &str) -> Option<String> {
    std::env::var(name).ok().or_else(|| if name == "HOSTNAME" { kernel_host_name() } else { None })
}

fn kernel_host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?.trim().to_ascii_lowercase();
    (!name.is_empty()).then_some(name)
}

/// Parses and validates agent config text; `lookup` supplies environment variables.
pub fn parse_agent_config(
    text: &str,
    source_name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<AgentConfig, ConfigError> {
    let fail = |problems: Vec<String>| ConfigError { source_name: source_name.to_owned(), problems };
    // Long check lists are read one check at a time (see `slaprobe_checks::split`); other layouts whole.
    let mut cut = cut_lists(text, &["checks", "control_checks"]);
    let whole = cut.as_ref().map_or(text, |cut| cut.rest.as_str());
    let mut document: Value = serde_yaml_ng::from_str(whole).map_err(|error| fail(vec![error.to_string()]))?;
    if document.is_null() {
        document = Value::Mapping(serde_yaml_ng::Mapping::new());
    }
    let mut problems = env::expand_document(&mut document, lookup);
    let Value::Mapping(mut top) = document else {
        return Err(fail(vec!["(document): expected a mapping of settings".to_owned()]));
    };
    let mut list = |key: &str| match (top.remove(key), cut.as_mut()) {
        (Some(value), _) => Written::Whole(value),
        (None, Some(cut)) => match cut.lists.iter().position(|(cut_key, _)| *cut_key == key) {
            Some(at) => Written::Cut(cut.lists.swap_remove(at).1),
            None => Written::Whole(Value::Sequence(Vec::new())),
        },
        (None, None) => Written::Whole(Value::Sequence(Vec::new())),
    };
    let (check_list, control_list) = (list("checks"), list("control_checks"));
    let settings =
        deserialize_at::<AgentSettings>(Value::Mapping(top), "").map_err(|problem| problems.push(problem)).ok();
    if let Some(settings) = &settings {
        problems.extend(validate_settings(settings));
    }
    let checks = check_list.parse("checks", lookup).unwrap_or_else(|check_problems| {
        problems.extend(check_problems);
        Vec::new()
    });
    let controls = control_list.parse("control_checks", lookup).map(as_controls).unwrap_or_else(|control_problems| {
        problems.extend(control_problems);
        Vec::new()
    });
    for (index, control) in controls.iter().enumerate() {
        if checks.iter().any(|check| check.check.id == control.check.id) {
            problems.push(format!("control_checks[{index}].id: {:?} is also a check's id", control.check.id));
        }
    }
    for (list, prepared) in [("checks", &checks), ("control_checks", &controls)] {
        problems
            .extend(icmp::unavailable(prepared).into_iter().map(|(index, why)| format!("{list}[{index}].kind: {why}")));
    }
    match settings {
        Some(settings) if problems.is_empty() => Ok(AgentConfig { settings, checks, controls }),
        _ => Err(fail(problems)),
    }
}

/// A list of checks as the document holds it: a value, or items cut from the text to be read one by one.
enum Written {
    Whole(Value),
    Cut(Vec<Item>),
}

impl Written {
    fn parse(self, path: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Vec<PreparedCheck>, Vec<String>> {
        match self {
            Self::Whole(value) => parse_checks(value, path),
            Self::Cut(items) => parse_check_items(items.into_iter().map(|item| item_value(&item)), path, Some(lookup)),
        }
    }
}

/// Whether `url` names this machine: a loopback address or `localhost`.
fn is_loopback_url(url: &str) -> bool {
    match url::Url::parse(url).ok().and_then(|url| url.host().map(|host| host.to_owned())) {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn validate_settings(settings: &AgentSettings) -> Vec<String> {
    let mut problems = Vec::new();
    if !is_valid_label(&settings.region) {
        problems.push(format!("region: {:?} must match [a-z0-9._-]{{1,64}}", settings.region));
    }
    if let Some(agent_id) = &settings.agent_id
        && !is_valid_label(agent_id)
    {
        problems.push(format!("agent_id: {agent_id:?} must match [a-z0-9._-]{{1,64}}"));
    }
    if settings.max_concurrent_probes == 0 {
        problems.push("max_concurrent_probes: must be at least 1".to_owned());
    }
    if settings.collector.is_some() && settings.token.as_deref().is_none_or(str::is_empty) {
        problems.push("token: required with `collector` (the collector admits agents by token)".to_owned());
    }
    let urls = match &settings.collector {
        Some(OneOrMany::One(url)) => std::slice::from_ref(url),
        Some(OneOrMany::Many(urls)) => urls.as_slice(),
        None => &[],
    };
    for url in urls {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            problems.push(format!("collector: {url:?} is not an http:// or https:// URL"));
        } else if url.starts_with("http://") && !settings.collector_insecure && !is_loopback_url(url) {
            problems.push(format!(
                "collector: {url:?} would send the token and every result in the clear to another machine; use \
                 https://, or set `collector_insecure: true` to accept that (a trusted private network)"
            ));
        }
    }
    if let Some(tls) = &settings.collector_tls {
        if !urls.iter().any(|url| url.starts_with("https://")) {
            problems.push("collector_tls: applies to https:// collector URLs, and none is given".to_owned());
        }
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            problems.push("collector_tls: give both cert_file and key_file, or neither".to_owned());
        }
        for (key, file) in [("ca_file", &tls.ca_file), ("cert_file", &tls.cert_file), ("key_file", &tls.key_file)] {
            if let Some(file) = file
                && !file.is_file()
            {
                problems.push(format!("collector_tls.{key}: {} is not a readable file", file.display()));
            }
        }
    }
    if settings.checkpoint_results == 0 {
        problems.push("checkpoint_results: must be at least 1".to_owned());
    }
    if settings.spool_max_bytes < 1 << 20 {
        problems.push(format!("spool_max_bytes: {} is below the minimum of 1 MiB", settings.spool_max_bytes));
    }
    if !(1..=256).contains(&settings.worker_threads) {
        problems.push(format!("worker_threads: {} is not between 1 and 256", settings.worker_threads));
    }
    problems
}
