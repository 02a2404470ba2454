//! The Debian packages, installed on this machine as an administrator would: `cargo deb` builds both (from the
//! binaries the test build made: what is checked here is the packaging, which is the same for a release build),
//! `dpkg -i` installs them, and the test checks the binaries, the systemd units, the `slaprobe` system user,
//! `/etc/slaprobe/` (conffiles, 0640 root:slaprobe) and the state directories (0750, owned by the user). As that
//! user, both configurations pass their checks and the agent probes a loopback server on its own, writing its
//! results into its state directory as the unit has it do. An edited
//! configuration survives an upgrade to the next package revision untouched and without a prompt, and
//! `dpkg --purge` leaves nothing behind. Needs root, `dpkg` and `cargo-deb` (`.ci/run` installs it).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slaprobe_tests::http_server::HttpServer;

const PACKAGES: [&str; 2] = ["slaprobe-agent", "slaprobe-collector"];

/// Runs `program args`, asserting success; returns its standard output.
#[track_caller]
fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).stdin(Stdio::null()).output().unwrap_or_else(|error| {
        panic!("{program}: {error}");
    });
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{program} {args:?} failed ({}): {said}", output.status);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Builds the packages of revision `revision` into `out`, returning their paths in [`PACKAGES`] order.
fn build_packages(out: &Path, revision: &str) -> Vec<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    PACKAGES
        .iter()
        .map(|package| {
            let file = out.join(format!("{package}_{revision}.deb"));
            let output = Command::new("cargo")
                .current_dir(&workspace)
                .args(["deb", "--quiet", "-p", package, "--no-build", "--profile", "dev", "--no-strip"])
                .args(["--deb-revision", revision, "-o"])
                .arg(&file)
                .output()
                .expect("cargo deb (cargo install cargo-deb --locked --version 3.8.0)");
            let said = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "cargo deb -p {package}: {said}");
            file
        })
        .collect()
}

/// `(mode, owner, group)` of `path`, the owner and group by name.
fn ownership(path: &str) -> (u32, String, String) {
    let metadata = std::fs::metadata(path).unwrap_or_else(|error| panic!("{path}: {error}"));
    let name =
        |database: &str, id: u32| run("getent", &[database, &id.to_string()]).split(':').next().unwrap().to_owned();
    (metadata.permissions().mode() & 0o7777, name("passwd", metadata.uid()), name("group", metadata.gid()))
}

/// Purges the packages (what an earlier run may have left too) and, when this test made it, the user.
fn purge(remove_user: bool) {
    let _ = Command::new("dpkg").arg("--purge").args(PACKAGES).stdin(Stdio::null()).output();
    if remove_user {
        let _ = Command::new("deluser").args(["--quiet", "--system", "slaprobe"]).output();
        let _ = Command::new("delgroup").args(["--quiet", "--system", "slaprobe"]).output();
    }
}

#[test]
fn packages_install_run_as_their_user_upgrade_and_purge_cleanly() {
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    assert_eq!(uid, 0, "installing packages takes root, as CI runs");
    let user_existed = Command::new("getent").args(["passwd", "slaprobe"]).output().unwrap().status.success();
    purge(false);
    let dir = tempfile::tempdir().unwrap();
    let first = build_packages(dir.path(), "1");
    for (package, file) in PACKAGES.iter().zip(&first) {
        let listing = run("dpkg-deb", &["--contents", file.to_str().unwrap()]);
        for expected in [format!("./usr/bin/{package}"), format!("./usr/lib/systemd/system/{package}.service")] {
            assert!(listing.contains(&expected), "{package} holds {expected}: {listing}");
        }
        let conffiles = run("dpkg-deb", &["--info", file.to_str().unwrap(), "conffiles"]);
        assert!(conffiles.starts_with("/etc/slaprobe/"), "{package}: {conffiles}");
    }
    let installed = std::panic::catch_unwind(|| installed_packages_work(dir.path(), &first));
    purge(!user_existed);
    if let Err(failure) = installed {
        std::panic::resume_unwind(failure);
    }
}

/// Everything between the first install and the purge; see the module notes.
fn installed_packages_work(dir: &Path, first: &[PathBuf]) {
    let files: Vec<&str> = first.iter().map(|file| file.to_str().unwrap()).collect();
    run("dpkg", &[&["--install"], files.as_slice()].concat());
    let user = run("getent", &["passwd", "slaprobe"]);
    let fields: Vec<&str> = user.trim().split(':').collect();
    assert!(fields[2].parse::<u32>().unwrap() < 1000, "a system user: {user}");
    assert!(fields[6].ends_with("nologin") || fields[6].ends_with("false"), "no login shell: {user}");
    for (path, expected) in [
        ("/usr/bin/slaprobe-agent", (0o755, "root", "root")),
        ("/usr/bin/slaprobe-collector", (0o755, "root", "root")),
        ("/etc/slaprobe/agent.yaml", (0o640, "root", "slaprobe")),
        ("/etc/slaprobe/collector.yaml", (0o640, "root", "slaprobe")),
        ("/etc/slaprobe/contracts.yaml", (0o640, "root", "slaprobe")),
        ("/var/lib/slaprobe-agent", (0o750, "slaprobe", "slaprobe")),
        ("/var/lib/slaprobe-collector", (0o750, "slaprobe", "slaprobe")),
    ] {
        let (mode, owner, group) = ownership(path);
        assert_eq!((mode, owner.as_str(), group.as_str()), expected, "{path}");
    }
    for unit in ["slaprobe-agent.service", "slaprobe-collector.service"] {
        let text = std::fs::read_to_string(format!("/usr/lib/systemd/system/{unit}")).unwrap();
        assert!(text.contains("User=slaprobe") && text.contains("ExecStart=/usr/bin/"), "{unit}: {text}");
    }
    let as_user = |args: &[&str]| run("runuser", &[&["-u", "slaprobe", "--"], args].concat());
    as_user(&["slaprobe-agent", "--config", "/etc/slaprobe/agent.yaml", "--check-config"]);
    as_user(&["slaprobe-collector", "check-config", "--config", "/etc/slaprobe/collector.yaml"]);

    // The administrator points the agent at a loopback server; as its user it probes and keeps its state.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(HttpServer::start());
    let edited = format!(
        "# edited by the administrator\nagent_id: edge-1\nregion: local\nspool_dir: /var/lib/slaprobe-agent\n\
         checks:\n  - {{ id: local-http, kind: http, target: \"{}\", interval: 1s, timeout: 500ms }}\n",
        server.url("/")
    );
    std::fs::write("/etc/slaprobe/agent.yaml", &edited).unwrap();
    // As the unit runs it: results into its state directory.
    let results = "/var/lib/slaprobe-agent/results.jsonl";
    let mut agent = Command::new("runuser")
        .args(["-u", "slaprobe", "--", "slaprobe-agent", "--config", "/etc/slaprobe/agent.yaml"])
        .arg(format!("--output=jsonl:{results}"))
        .process_group(0)
        .stderr(std::fs::File::create(dir.join("agent.log")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let line = loop {
        let text = std::fs::read_to_string(results).unwrap_or_default();
        if let Some(line) = text.lines().next() {
            break line.to_owned();
        }
        let said = std::fs::read_to_string(dir.join("agent.log")).unwrap();
        assert!(Instant::now() < deadline, "no result in {results} within 20 s; the agent said: {said}");
        std::thread::sleep(Duration::from_millis(100));
    };
    // runuser and the agent under it, as one process group.
    let group = nix::unistd::Pid::from_raw(-(agent.id() as i32));
    let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
    let _ = agent.wait();
    let result: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!((&result["check_id"], &result["ok"]), (&"local-http".into(), &true.into()), "{line}");
    assert_eq!(ownership(results).1, "slaprobe", "written by the agent's user");

    // The next revision: the edited configuration stays as it is, without a question.
    let second = build_packages(dir, "2");
    let files: Vec<&str> = second.iter().map(|file| file.to_str().unwrap()).collect();
    run("dpkg", &[&["--install"], files.as_slice()].concat());
    assert_eq!(std::fs::read_to_string("/etc/slaprobe/agent.yaml").unwrap(), edited);
    assert_eq!(ownership("/etc/slaprobe/agent.yaml"), (0o640, "root".to_owned(), "slaprobe".to_owned()));
    let versions = run("dpkg-query", &["--show", "--showformat", "${Version}\n", "slaprobe-agent"]);
    assert_eq!(versions.trim(), "0.1.0-2");

    // Purged: nothing of either package is left.
    run("dpkg", &[&["--purge"], PACKAGES.as_slice()].concat());
    for path in ["/usr/bin/slaprobe-agent", "/usr/bin/slaprobe-collector", "/etc/slaprobe", "/var/lib/slaprobe-agent"]
        .into_iter()
        .chain(["/var/lib/slaprobe-collector", "/usr/lib/systemd/system/slaprobe-agent.service"])
    {
        assert!(!Path::new(path).exists(), "{path} is left after the purge");
    }
    let status = Command::new("dpkg-query").args(["--show", "slaprobe-agent"]).output().unwrap();
    let listed = String::from_utf8_lossy(&status.stdout);
    assert!(!status.status.success() || listed.trim().ends_with('\t'), "still known to dpkg: {listed}");
}
