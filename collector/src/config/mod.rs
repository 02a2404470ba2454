//! `collector.yaml` (`docs/configuration.md`) and the checks and contracts files it names.
//!
//! `${VAR}` expands from the environment in every string value. Checks and contracts come inline (`checks:`,
//! `contracts:`) or from files (`checks_file:`, `contracts_file:`, a YAML document with that one key); relative
//! paths, the SQLite path included, are resolved against the config file's directory. Every problem is
//! reported with its path, and the binary exits with status 64.
//!
//! `notify` and `alerts` ([`alerting`]) are validated in the design's shape but not acted on yet (a warning says
//! so): alerting is its own work item.

use slaprobe_proto::evidence::PublicKey;
use slaprobe_proto::logging::LogFormat;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::SignedDuration;
use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};
use sha2::{Digest, Sha256};
pub use slaprobe_checks::ConfigError;
use slaprobe_checks::env::expand_document;
use slaprobe_checks::{PreparedCheck, deserialize_at, parse_checks, parse_control_checks};

pub mod alerting;
pub mod client_cert;
pub mod enrolment;
pub mod reports;
pub mod retention;

use alerting::{AlertRule, Notify, parse_alerting};
pub use client_cert::ClientCertBinding;
pub use enrolment::Enrolment;
pub use retention::{DEFAULT_RESULTS_RETENTION, Retention};
use slaprobe_sla::contract::{Contract, parse_contracts};
use slaprobe_sla::faults::FaultRule;

/// The clock-offset bound when `collector.yaml` sets none.
pub const DEFAULT_MAX_CLOCK_OFFSET: Duration = Duration::from_secs(2);

/// One agent the collector admits (`agents:`), with its token's hash (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentIdentity {
    /// Agent id.
    pub agent_id: String,
    /// Region label.
    pub region: String,
    /// Lower-case hex SHA-256 of the agent's token.
    pub token_sha256: String,
    /// The agent's pinned public key (`public_key:`); without one, the first key it presents is recorded.
    pub public_key: Option<PublicKey>,
    /// The client certificate its sessions must present (`client_cert:`), when bound to one.
    pub client_cert: Option<ClientCertBinding>,
    /// The enrolment (`enrolments[].name`) it joined with; `None` for an agent of `agents:`.
    pub enrolment: Option<String>,
}

/// `listen:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// gRPC ingest address.
    pub grpc: SocketAddr,
    /// HTTP address (API, dashboard, metrics; served with the HTTP work item).
    #[serde(default)]
    pub http: Option<SocketAddr>,
    /// TLS for the gRPC listener; absent means plaintext (loopback or a trusted network only).
    #[serde(default)]
    pub tls: Option<ListenTls>,
    /// HTTP connections open at once at most; more are closed at once (default 1,024).
    #[serde(default = "default_http_max_connections")]
    pub http_max_connections: usize,
    /// How long one HTTP request may take before it is answered 503 (default 30 s).
    #[serde(default = "default_http_request_timeout", with = "humantime_serde")]
    pub http_request_timeout: Duration,
}

fn default_http_max_connections() -> usize {
    1024
}

fn default_http_request_timeout() -> Duration {
    Duration::from_secs(30)
}

/// `listen.tls:` PEM files, relative to the config file's directory.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenTls {
    /// The collector's certificate chain.
    pub cert_file: PathBuf,
    /// Its private key.
    pub key_file: PathBuf,
    /// With it, agents must present a client certificate signed by this CA (besides their token).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

/// The storage engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// Path of the SQLite file.
    Sqlite(PathBuf),
    /// A libpq URL of the PostgreSQL database (`postgres://user@host:5432/db`).
    Postgres(String),
}

/// `storage:` as written: exactly one of the keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageEntry {
    #[serde(default)]
    sqlite: Option<PathBuf>,
    #[serde(default)]
    postgres: Option<String>,
}

/// One `agents:` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentEntry {
    id: String,
    region: String,
    token_sha256: String,
    #[serde(default)]
    public_key: Option<String>,
    #[serde(default)]
    client_cert: Option<ClientCertBinding>,
}

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything: dashboard, API, metrics.
    Viewer,
    /// Also act: reload the configuration.
    Admin,
}

/// One `api_tokens:` entry: who holds it, what it may do, and its SHA-256 (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    /// Who holds it (shown when signed in).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Lower-case hex SHA-256 of the token.
    pub token_sha256: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    listen: Listen,
    storage: StorageEntry,
    #[serde(default)]
    agents: Vec<AgentEntry>,
    #[serde(default)]
    enrolments: Vec<Enrolment>,
    #[serde(default)]
    api_tokens: Vec<ApiToken>,
    #[serde(default)]
    allow_open_access: bool,
    #[serde(default)]
    checks_file: Option<PathBuf>,
    #[serde(default)]
    contracts_file: Option<PathBuf>,
    #[serde(default = "default_max_clock_offset", with = "humantime_serde")]
    max_clock_offset: Duration,
    #[serde(default)]
    notify: Option<Value>,
    #[serde(default)]
    alerts: Option<Value>,
    #[serde(default)]
    reports: Option<Value>,
    #[serde(default)]
    retention: Retention,
    #[serde(default)]
    agent_faults: FaultRule,
    #[serde(default)]
    public_url: Option<String>,
    #[serde(default)]
    log_format: LogFormat,
}

/// Added to the longest probe timeout to make the settle time.
pub const SETTLE_MARGIN: Duration = Duration::from_secs(2);

fn default_max_clock_offset() -> Duration {
    DEFAULT_MAX_CLOCK_OFFSET
}

/// A loaded and validated `collector.yaml`.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    /// Listen addresses.
    pub listen: Listen,
    /// Storage engine.
    pub storage: Storage,
    /// Admitted agents.
    pub agents: Vec<AgentIdentity>,
    /// Fleet tokens with which agents enrol under their own names.
    pub enrolments: Vec<Enrolment>,
    /// Tokens of the HTTP API and dashboard; none means open access (loopback use).
    pub api_tokens: Vec<ApiToken>,
    /// The central check list.
    pub checks: Vec<PreparedCheck>,
    /// Control checks (`control_checks:`): known-good targets pushed with the central check list, whose failures
    /// tell an agent's own faults from the vendors'.
    pub control_checks: Vec<PreparedCheck>,
    /// Agents whose clock is off by more than this get their results flagged.
    pub max_clock_offset: Duration,
    /// Contracts.
    pub contracts: Vec<Contract>,
    /// The files this configuration was read from (the config file, then any checks and contracts files).
    pub sources: Vec<PathBuf>,
    /// SHA-256 (lower-case hex) of the sources' bytes one after another as they were when loaded, what
    /// `cat collector.yaml checks.yaml contracts.yaml | sha256sum` prints: replicas running the same files show
    /// the same hash.
    pub sha256: String,
    /// Notification channels and escalation policies.
    pub notify: Notify,
    /// Alert rules.
    pub alerts: Vec<AlertRule>,
    /// Where closed periods' claim reports and claim reminders go.
    pub reports: reports::Reports,
    /// How long results are kept.
    pub retention: Retention,
    /// Rule 11 (`agent_faults:`): when an agent's failures across vendors are its own.
    pub agent_faults: FaultRule,
    /// The address people reach the dashboard at (`https://slaprobe.example.com`), for links in notifications;
    /// without a trailing slash.
    pub public_url: Option<String>,
    /// How `serve` logs: text or JSON lines (read at start; a reload keeps the format it started with).
    pub log_format: LogFormat,
}

/// What a configuration is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Serving (and `check-config`, which checks what serving would read): everything is read and checked.
    Serve,
    /// A command that only works on the store (`report`, `export`, `import`): `listen` is neither read nor
    /// expanded, so its `${VARS}` and TLS files need not exist where the command runs.
    StoreOnly,
}

/// Reads `collector.yaml` to serve.
pub fn load_collector_config(path: &Path) -> Result<CollectorConfig, ConfigError> {
    load_collector_config_for(path, Purpose::Serve)
}

/// Reads `collector.yaml` for `purpose`.
pub fn load_collector_config_for(path: &Path, purpose: Purpose) -> Result<CollectorConfig, ConfigError> {
    let source_name = path.display().to_string();
    let fail = |problems: Vec<String>| ConfigError {
        source_name: source_name.clone(),
        problems: without_follow_ons(problems),
    };
    let mut top = read_mapping(path).map_err(|problem| fail(vec![problem]))?;
    if purpose == Purpose::StoreOnly {
        let mut unused = Mapping::new();
        unused.insert(Value::from("grpc"), Value::from("127.0.0.1:0"));
        top.insert(Value::from("listen"), Value::Mapping(unused));
    }
    let mut document = Value::Mapping(std::mem::take(&mut top));
    let mut problems = expand_document(&mut document, &|name| std::env::var(name).ok());
    let Value::Mapping(mut top) = document else { return Err(fail(problems)) };
    let base = path.parent().unwrap_or(Path::new("."));
    let inline_checks = top.remove("checks");
    let inline_controls = top.remove("control_checks");
    let inline_contracts = top.remove("contracts");
    let settings = deserialize_at::<Settings>(Value::Mapping(top), "").map_err(|problem| problems.push(problem)).ok();
    let (checks_file, contracts_file) = settings
        .as_ref()
        .map_or((None, None), |settings| (settings.checks_file.as_deref(), settings.contracts_file.as_deref()));
    let sources: Vec<PathBuf> = [Some(path.to_owned()), checks_file.map(|file| base.join(file))]
        .into_iter()
        .chain([contracts_file.map(|file| base.join(file))])
        .flatten()
        .collect();
    let checks_problems_before = problems.len();
    let checks_value = list_source(base, inline_checks, checks_file, "checks", &mut problems);
    let checks = parse_checks(checks_value, "checks").unwrap_or_else(|more| {
        problems.extend(more.into_iter().map(|problem| in_file(checks_file, "checks_file", problem)));
        Vec::new()
    });
    let checks_read = problems.len() == checks_problems_before;
    let control_checks =
        parse_control_checks(inline_controls.unwrap_or(Value::Null), "control_checks").unwrap_or_else(|more| {
            problems.extend(more);
            Vec::new()
        });
    for (index, control) in control_checks.iter().enumerate() {
        if checks.iter().any(|check| check.check.id == control.check.id) {
            problems.push(format!("control_checks[{index}].id: {:?} is also a check's id", control.check.id));
        }
    }
    let contracts_problems_before = problems.len();
    let contracts_value = list_source(base, inline_contracts, contracts_file, "contracts", &mut problems);
    let contracts = parse_contracts(contracts_value, "contracts").unwrap_or_else(|more| {
        problems.extend(more.into_iter().map(|problem| in_file(contracts_file, "contracts_file", problem)));
        Vec::new()
    });
    let contracts_read = problems.len() == contracts_problems_before;
    if checks_read && contracts_read {
        check_references(&contracts, &checks, contracts_file, &mut problems);
        refuse_controls_in_contracts(&contracts, &control_checks, contracts_file, &mut problems);
    }
    let Some(mut settings) = settings else { return Err(fail(problems)) };
    let known_contracts = contracts_read.then_some(contracts.as_slice());
    let (notify, alerts) =
        parse_alerting(settings.notify.take(), settings.alerts.take(), known_contracts, &mut problems);
    let reports = reports::parse_reports(settings.reports.take(), &notify, &mut problems);
    let mut agents = Vec::new();
    // Bindings need a verified client certificate; `listen` is not read for store-only commands.
    let certificates_asked =
        purpose == Purpose::StoreOnly || settings.listen.tls.as_ref().is_some_and(|tls| tls.client_ca_file.is_some());
    for (index, mut entry) in settings.agents.into_iter().enumerate() {
        let hash = entry.token_sha256.to_ascii_lowercase();
        if !is_sha256_hex(&hash) {
            problems.push(format!("agents[{index}].token_sha256: not a hex SHA-256 (64 hex digits)"));
        }
        if agents.iter().any(|other: &AgentIdentity| other.agent_id == entry.id) {
            problems.push(format!("agents[{index}].id: duplicate id {:?}", entry.id));
        }
        let public_key = match entry.public_key.as_deref().map(str::parse::<PublicKey>).transpose() {
            Ok(key) => key,
            Err(error) => {
                problems.push(format!("agents[{index}].public_key: {error}"));
                None
            }
        };
        if let Some(binding) = &mut entry.client_cert {
            problems.extend(binding.problems(&format!("agents[{index}].client_cert"), certificates_asked));
        }
        let (agent_id, region, client_cert) = (entry.id, entry.region, entry.client_cert);
        agents.push(AgentIdentity { agent_id, region, token_sha256: hash, public_key, client_cert, enrolment: None });
    }
    let mut enrolments = settings.enrolments;
    problems.extend(enrolment::enrolment_problems(&mut enrolments, &agents));
    let mut api_tokens: Vec<ApiToken> = Vec::new();
    for (index, mut entry) in settings.api_tokens.into_iter().enumerate() {
        entry.token_sha256.make_ascii_lowercase();
        if !is_sha256_hex(&entry.token_sha256) {
            problems.push(format!("api_tokens[{index}].token_sha256: not a hex SHA-256 (64 hex digits)"));
        }
        if api_tokens.iter().any(|other| other.token_sha256 == entry.token_sha256) {
            problems.push(format!("api_tokens[{index}]: the same token as an earlier entry"));
        }
        api_tokens.push(entry);
    }
    let storage = match settings.storage {
        StorageEntry { sqlite: Some(file), postgres: None } => Some(Storage::Sqlite(base.join(file))),
        StorageEntry { sqlite: None, postgres: Some(url) } => match crate::postgres_tls::connect_options(&url) {
            Ok(_) => Some(Storage::Postgres(url)),
            Err(error) => {
                problems.push(format!("storage.postgres: {error}"));
                None
            }
        },
        _ => {
            problems.push("storage: give exactly one of `sqlite: PATH` or `postgres: URL`".into());
            None
        }
    };
    let mut listen = settings.listen;
    if let Some(address) = listen.http
        && !address.ip().is_loopback()
        && api_tokens.is_empty()
        && !settings.allow_open_access
    {
        problems.push(format!(
            "listen.http: {address} is reachable from other machines, but no api_tokens are configured, so anyone \
             there could read the API and change alerts; add api_tokens, or set `allow_open_access: true` to \
             accept that"
        ));
    }
    if listen.http_max_connections == 0 {
        problems.push("listen.http_max_connections: must be at least 1".to_owned());
    }
    if listen.http_request_timeout < Duration::from_secs(1) {
        problems.push("listen.http_request_timeout: must be at least 1s".to_owned());
    }
    if let Some(tls) = &mut listen.tls {
        tls.cert_file = base.join(&tls.cert_file);
        tls.key_file = base.join(&tls.key_file);
        tls.client_ca_file = tls.client_ca_file.as_ref().map(|file| base.join(file));
        let files = [("cert_file", Some(&tls.cert_file)), ("key_file", Some(&tls.key_file))];
        for (key, file) in files.into_iter().chain([("client_ca_file", tls.client_ca_file.as_ref())]) {
            if let Some(file) = file
                && !file.is_file()
            {
                problems.push(format!("listen.tls.{key}: {} is not a readable file", file.display()));
            }
        }
    }
    if let Some(problem) = settings.agent_faults.problem() {
        problems.push(format!("agent_faults.{problem}"));
    }
    let public_url = settings.public_url.as_deref().map(|url| url.trim_end_matches('/').to_owned());
    if let Some(url) = &public_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        problems.push(format!("public_url: {url:?} is not an http(s):// URL"));
    }
    let mut contracts = contracts;
    place_contracts(&mut contracts, &checks);
    problems.extend(settings.retention.problems(&contracts));
    match storage {
        Some(storage) if problems.is_empty() => Ok(CollectorConfig {
            listen,
            storage,
            agents,
            enrolments,
            api_tokens,
            checks,
            control_checks,
            max_clock_offset: settings.max_clock_offset,
            contracts,
            sha256: sources_sha256(&sources),
            sources,
            notify,
            alerts,
            reports,
            retention: settings.retention,
            agent_faults: settings.agent_faults,
            public_url,
            log_format: settings.log_format,
        }),
        _ => Err(fail(problems)),
    }
}

/// SHA-256 of the bytes of `sources`, one after another (a file that cannot be read adds nothing).
fn sources_sha256(sources: &[PathBuf]) -> String {
    let mut hasher = Sha256::new();
    for source in sources {
        hasher.update(std::fs::read(source).unwrap_or_default());
    }
    crate::digest::hex(&hasher.finalize())
}

impl CollectorConfig {
    /// Whether any check of `contract` runs in `region` (checks without `regions` run everywhere).
    pub fn serves_region(&self, contract: &Contract, region: &str) -> bool {
        self.checks.iter().any(|prepared| {
            contract.terms.checks.contains(&prepared.check.id)
                && prepared.check.regions.as_ref().is_none_or(|regions| regions.iter().any(|r| r == region))
        })
    }

    /// The dashboard page of contract `id` under `public_url`, when that is set.
    pub fn contract_url(&self, id: &str) -> Option<String> {
        self.public_url.as_ref().map(|base| format!("{base}/contracts/{id}"))
    }

    /// How long after a slice ends its results are all in: the longest probe timeout of the contract's checks
    /// (10 s for checks the collector does not know) plus [`SETTLE_MARGIN`]. Alerts judge slices this late, and
    /// a result arriving later than this after its period's end is flagged `late`.
    pub fn settle_time(&self, contract: &Contract) -> SignedDuration {
        let longest = self
            .checks
            .iter()
            .filter(|prepared| contract.terms.checks.contains(&prepared.check.id))
            .map(|prepared| prepared.timeout)
            .max()
            .unwrap_or(Duration::from_secs(10));
        SignedDuration::try_from(longest + SETTLE_MARGIN).unwrap_or(SignedDuration::from_secs(12))
    }
}

/// Fills each contract's [`Placement`](slaprobe_sla::contract::Placement) from the central checks' `regions`.
fn place_contracts(contracts: &mut [Contract], checks: &[PreparedCheck]) {
    for contract in contracts {
        contract.placement = checks
            .iter()
            .filter(|prepared| contract.terms.checks.contains(&prepared.check.id))
            .filter_map(|prepared| {
                let regions = prepared.check.regions.as_ref()?;
                Some((prepared.check.id.clone(), regions.iter().cloned().collect()))
            })
            .collect();
    }
}

/// A problem of a list read from `file` (named by `key`: `checks_file`, `contracts_file`), prefixed with that
/// file's name so the user edits the right file; inline lists' problems stay as they are.
fn in_file(file: Option<&Path>, key: &str, problem: String) -> String {
    match file {
        Some(file) => format!("{} ({key}): {problem}", file.display()),
        None => problem,
    }
}

/// Every check a contract names must be in the central check list, or be declared agent-local. With no central
/// list at all, agents run their own checks and every name is taken as local.
fn check_references(
    contracts: &[Contract],
    checks: &[PreparedCheck],
    contracts_file: Option<&Path>,
    problems: &mut Vec<String>,
) {
    if checks.is_empty() {
        return;
    }
    for (index, contract) in contracts.iter().enumerate() {
        for (position, id) in contract.terms.checks.iter().enumerate() {
            if contract.local_checks.contains(id) || checks.iter().any(|prepared| &prepared.check.id == id) {
                continue;
            }
            problems.push(in_file(
                contracts_file,
                "contracts_file",
                format!(
                    "contracts[{index}].checks[{position}]: no check {id:?} in the collector's check list; fix the \
                     name, or write `{{ id: {id}, local: true }}` if agents define it in their own agent.yaml"
                ),
            ));
        }
    }
}

/// A problem for each contract check that is a control check: a control is the agent's own yardstick, so it
/// never counts for a contract.
fn refuse_controls_in_contracts(
    contracts: &[Contract],
    controls: &[PreparedCheck],
    contracts_file: Option<&Path>,
    problems: &mut Vec<String>,
) {
    for (index, contract) in contracts.iter().enumerate() {
        for (position, id) in contract.terms.checks.iter().enumerate() {
            if controls.iter().any(|control| &control.check.id == id) {
                let problem = format!(
                    "contracts[{index}].checks[{position}]: {id:?} is a control check (it tells our own faults from \
                     the vendor's and never counts for a contract); list it under `checks:` to measure it"
                );
                problems.push(in_file(contracts_file, "contracts_file", problem));
            }
        }
    }
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// `problems` without those that follow from an unset variable: a value that could not be expanded is reported
/// again as malformed at the same place, which tells the user nothing more.
fn without_follow_ons(mut problems: Vec<String>) -> Vec<String> {
    const UNSET: &str = ": environment variable ";
    let places: Vec<String> =
        problems.iter().filter_map(|problem| Some(format!("{}: ", problem.split_once(UNSET)?.0))).collect();
    problems.retain(|problem| problem.contains(UNSET) || !places.iter().any(|place| problem.starts_with(place)));
    problems
}

/// The list under `key`: inline, or from `file` (a document with that one key); both is a problem.
fn list_source(
    base: &Path,
    inline: Option<Value>,
    file: Option<&Path>,
    key: &str,
    problems: &mut Vec<String>,
) -> Value {
    match (inline, file) {
        (Some(_), Some(_)) => {
            problems.push(format!("{key}: give either `{key}:` or `{key}_file:`, not both"));
            Value::Null
        }
        (Some(inline), None) => inline,
        (None, Some(file)) => read_list_file(&base.join(file), key).unwrap_or_else(|problem| {
            problems.push(format!("{key}_file: {problem}"));
            Value::Null
        }),
        (None, None) => Value::Null,
    }
}

/// Reads a YAML file holding one key, `key`, and returns its value.
pub fn read_list_file(path: &Path, key: &str) -> Result<Value, String> {
    let mut top = read_mapping(path)?;
    let value = top.remove(key).unwrap_or(Value::Null);
    if let Some(other) = top.keys().next() {
        return Err(format!("{}: unexpected key {other:?}, expected only `{key}`", path.display()));
    }
    Ok(value)
}

fn read_mapping(path: &Path) -> Result<Mapping, String> {
    let text = std::fs::read_to_string(path).map_err(|error| format!("{}: cannot read: {error}", path.display()))?;
    match serde_yaml_ng::from_str::<Value>(&text) {
        Ok(Value::Mapping(mapping)) => Ok(mapping),
        Ok(_) => Err(format!("{}: expected a mapping at the top", path.display())),
        Err(error) => Err(format!("{}: {error}", path.display())),
    }
}

#[cfg(test)]
mod tests;
