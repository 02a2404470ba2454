//! Driving the agent: prepare checks from YAML, run one probe attempt in-process, or run the real
//! `slaprobe-agent` binary as a child process and read what it wrote.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use jiff::Timestamp;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use slaprobe_agent::probe::{AttemptWindow, Identity, ProbeContext, run_check};
use slaprobe_agent::signing::{CheckpointPolicy, SigningKey};
use slaprobe_agent::uplink::{UplinkSettings, client_tls};
use slaprobe_checks::{PreparedCheck, parse_checks};
use slaprobe_proto::ResultRecord;

/// Validates one check written as YAML (a mapping), panicking with every problem if it is invalid.
#[track_caller]
pub fn prepare(yaml: &str) -> PreparedCheck {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).expect("check YAML parses");
    match parse_checks(serde_yaml_ng::Value::Sequence(vec![value]), "checks") {
        Ok(mut checks) => checks.remove(0),
        Err(problems) => panic!("check is invalid:\n{}", problems.join("\n")),
    }
}

/// Runs one attempt of the check in `yaml` from this process, as the agent would.
pub async fn probe(yaml: &str) -> ResultRecord {
    probe_with(&ProbeContext::new(None, std::path::Path::new("/etc/resolv.conf")), yaml).await
}

/// Like [`probe`], with a given probe context (e.g. resolving names through a test DNS server).
pub async fn probe_with(context: &ProbeContext, yaml: &str) -> ResultRecord {
    let check = prepare(yaml);
    let identity = Identity { agent_id: "test-agent".to_owned(), region: "test".to_owned() };
    let window = AttemptWindow { scheduled_at: None, started_at: Timestamp::now(), timeout: check.timeout };
    run_check(context, &check, &identity, window, std::future::pending()).await
}

/// Asserts that `result` failed with `kind` and an error message containing `message_part`.
#[track_caller]
pub fn assert_failed(result: &ResultRecord, kind: &str, message_part: &str) {
    assert!(!result.ok, "expected a failure: {result:?}");
    assert_eq!(result.error_kind.as_deref(), Some(kind), "{result:?}");
    let message = result.error.as_deref().unwrap_or_default();
    assert!(message.contains(message_part), "error {message:?} lacks {message_part:?}");
}

/// The `slaprobe-agent` binary, brought up to date once per test process.
pub fn agent_binary() -> PathBuf {
    built_binaries().join("slaprobe-agent")
}

/// The `slaprobe-verify` binary, brought up to date once per test process.
pub fn verify_binary() -> PathBuf {
    built_binaries().join("slaprobe-verify")
}

/// The `slaprobe-collector` binary, brought up to date once per test process.
pub fn collector_binary() -> PathBuf {
    built_binaries().join("slaprobe-collector")
}

/// Uplink settings for a plaintext collector at `address`, as agent `agent_id` of `region` with `token`, signing
/// with the key in `key_dir` (made there if there is none).
pub fn plaintext_uplink(
    key_dir: &Path,
    address: std::net::SocketAddr,
    token: &str,
    agent_id: &str,
    region: &str,
) -> UplinkSettings {
    UplinkSettings {
        collectors: vec![format!("http://{address}")],
        token: token.to_owned(),
        agent_id: agent_id.to_owned(),
        region: region.to_owned(),
        tls: client_tls(None).expect("TLS settings without files"),
        key: std::sync::Arc::new(SigningKey::load_or_create(key_dir).expect("agent key")),
        checkpoints: CheckpointPolicy::default(),
        resolver: "127.0.0.1:53".to_owned(),
    }
}

/// The directory holding the agent and collector binaries of this test's profile, built once per test process.
///
/// `cargo test -p slaprobe-tests` does not rebuild another package's binary, so this runs `cargo build` rather
/// than test a stale one. Tests (debug) build what `cargo test --workspace` builds, so the binaries share its
/// compiled dependencies and, after a full `cargo test --workspace`, nothing compiles again; `cargo build -p`
/// would resolve other features and compile every dependency a second time. Benchmarks (release) build just the
/// two binaries.
fn built_binaries() -> PathBuf {
    static TARGET: OnceLock<PathBuf> = OnceLock::new();
    TARGET.get_or_init(build_binaries).clone()
}

fn build_binaries() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // Test executables live in target/PROFILE/deps, binaries (the benchmarks) in target/PROFILE.
    let mut dir = exe.parent().expect("executable directory");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("target directory");
    }
    let release = dir.file_name().is_some_and(|profile| profile == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "--locked"]);
    if release {
        build.args([
            "--release",
            "-p",
            "slaprobe-agent",
            "-p",
            "slaprobe-collector",
            "-p",
            "slaprobe-verify",
            "--bins",
        ]);
    } else {
        build.args(["--workspace", "--tests"]);
    }
    let status = build.status().expect("run cargo build");
    assert!(status.success(), "cargo build of the agent and the collector failed");
    dir.to_owned()
}

/// A `slaprobe-agent` child process writing JSON lines to a file in its own temporary directory, and its log to
/// `agent.log` beside it.
pub struct AgentProcess {
    child: Child,
    /// The directory holding the config and the output.
    pub dir: tempfile::TempDir,
}

impl AgentProcess {
    /// Writes `config` to `agent.yaml` and starts the agent with `--output jsonl:results.jsonl`.
    pub fn start(config: &str) -> Self {
        Self::start_via(&[], config)
    }

    /// Like [`AgentProcess::start`], with the agent's command line after `prefix` (`ip netns exec NAME`).
    pub fn start_via(prefix: &[&str], config: &str) -> Self {
        Self::start_in(tempfile::tempdir().expect("temp dir"), config, true, prefix)
    }

    /// Writes `config` (which names a collector) to `DIR/agent.yaml` and starts the agent without `--output`.
    pub fn start_for_collector(dir: tempfile::TempDir, config: &str) -> Self {
        Self::start_in(dir, config, false, &[])
    }

    /// Starts agent `agent-REGION` in region `region` with `token`, sending over plaintext gRPC to `collectors`
    /// in that order (failing over between them, going back to the first), spooling in its own directory.
    pub fn start_listing(region: &str, token: &str, collectors: &[std::net::SocketAddr]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let urls: Vec<String> = collectors.iter().map(|address| format!("\"http://{address}\"")).collect();
        let yaml = format!(
            "agent_id: agent-{region}\nregion: {region}\ncollector: [{}]\ntoken: {token}\nspool_dir: \"{}\"\n",
            urls.join(", "),
            dir.path().join("spool").display()
        );
        Self::start_in(dir, &yaml, false, &[])
    }

    fn start_in(dir: tempfile::TempDir, config: &str, jsonl: bool, prefix: &[&str]) -> Self {
        std::fs::write(dir.path().join("agent.yaml"), config).expect("write agent.yaml");
        let mut command = command_via(prefix);
        command.arg("--config").arg(dir.path().join("agent.yaml"));
        if jsonl {
            command.arg("--output").arg(format!("jsonl:{}", dir.path().join("results.jsonl").display()));
        }
        let log = std::fs::File::create(dir.path().join("agent.log")).expect("create agent.log");
        let child =
            command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).spawn().expect("start slaprobe-agent");
        Self { child, dir }
    }

    /// Path of `agent.yaml`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("agent.yaml")
    }

    /// Sends `signal` to the agent.
    pub fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits"));
        kill(pid, signal).expect("signal the agent");
    }

    /// Waits up to `limit` for the agent to exit; returns its status and what it logged.
    pub fn wait(mut self, limit: Duration) -> (ExitStatus, String, Vec<ResultRecord>) {
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("poll agent") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("slaprobe-agent did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (status, self.log(), self.results())
    }

    /// What the agent has logged so far (its stderr, kept in `agent.log`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    /// Every result written so far.
    pub fn results(&self) -> Vec<ResultRecord> {
        read_results(&self.dir.path().join("results.jsonl"))
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The agent's command, run by `prefix` when there is one.
fn command_via(prefix: &[&str]) -> Command {
    match prefix.split_first() {
        None => Command::new(agent_binary()),
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(agent_binary());
            command
        }
    }
}

/// Parses a JSON-lines results file; a missing file is empty, a malformed line fails the test.
#[track_caller]
pub fn read_results(path: &Path) -> Vec<ResultRecord> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .enumerate()
        .map(|(index, line)| {
            serde_json::from_str(line).unwrap_or_else(|error| panic!("line {}: {error}: {line}", index + 1))
        })
        .collect()
}

/// Runs `slaprobe-agent` with `args` to completion; returns exit code, stdout and stderr.
pub fn run_agent(args: &[&str]) -> (Option<i32>, String, String) {
    run_agent_via(&[], args)
}

/// Like [`run_agent`], with the agent's command line after `prefix` (`setpriv --reuid=65534 …`).
pub fn run_agent_via(prefix: &[&str], args: &[&str]) -> (Option<i32>, String, String) {
    let output = command_via(prefix).args(args).stdin(Stdio::null()).output().expect("run slaprobe-agent");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
