//! A full disk under the agent's spool stops nothing, tried with real processes on a real filesystem: the spool
//! lives on a 1 MiB tmpfs that the test fills up. While writes fail the agent keeps probing into memory,
//! `/healthz` answers 503, `slaprobe_agent_spool_write_failing` is 1 and the error is logged; once space is freed
//! it writes on by itself, and the collector ends up with every result, gap-free and without a hole in time.
//! (Mounting needs root, as in CI; without it the test fails saying so.)

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use jiff::Timestamp;
use nix::sys::signal::Signal;
use slaprobe_collector::digest::token_hash;
use slaprobe_collector::store::Store;
use slaprobe_proto::ResultRecord;
use slaprobe_tests::agent::AgentProcess;
use slaprobe_tests::collector::start_collector;
use slaprobe_tests::http_client::get;
use slaprobe_tests::ports::free_addr;
use slaprobe_tests::wait;

/// Checks probed every second: enough results that the spool needs new pages of the full tmpfs within seconds.
const CHECKS: usize = 8;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(at)
            .output()
            .expect("run mount");
        assert!(
            output.status.success(),
            "this test mounts a small tmpfs and needs root for it: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self(at.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem of `dir` with one file until a write fails; returns the file.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    while file.write_all(&chunk).and_then(|()| file.sync_all()).is_ok() {}
    path
}

async fn stored(database: &Path) -> Vec<ResultRecord> {
    let store = Store::open_sqlite(database).unwrap();
    let far = "2100-01-01T00:00:00Z".parse().unwrap();
    let checks: Vec<String> = (0..CHECKS).map(|index| format!("grpc-port-{index}")).collect();
    store.results_between(&checks, Timestamp::UNIX_EPOCH, far).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_holds_results_in_memory_and_the_agent_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let spool_dir = dir.path().join("agent-spool");
    let _tmpfs = Tmpfs::mount(&spool_dir, "1m");
    let (grpc, agent_metrics) = (free_addr(), free_addr());
    let config = dir.path().join("collector.yaml");
    let checks: String = (0..CHECKS)
        .map(|index| {
            format!("  - {{ id: grpc-port-{index}, kind: tcp, target: \"{grpc}\", interval: 1s, timeout: 500ms }}\n")
        })
        .collect();
    std::fs::write(
        &config,
        format!(
            "listen: {{ grpc: \"{grpc}\" }}\nstorage: {{ sqlite: slaprobe.db }}\n\
             agents:\n  - {{ id: edge-1, region: local, token_sha256: \"{}\" }}\nchecks:\n{checks}",
            token_hash("s3cret")
        ),
    )
    .unwrap();
    let _collector = tokio::task::block_in_place(|| start_collector(&config));
    let agent_config = format!(
        "agent_id: edge-1\nregion: local\ncollector: \"http://{grpc}\"\ntoken: s3cret\nspool_dir: \"{}\"\n\
         metrics_listen: \"{agent_metrics}\"\n",
        spool_dir.display()
    );
    let agent = AgentProcess::start_for_collector(tempfile::tempdir().unwrap(), &agent_config);
    let database = dir.path().join("slaprobe.db");
    wait::until(Duration::from_secs(20), "the first results", async || stored(&database).await.len() >= 3).await;
    let failing = async || {
        let (status, _) = get(agent_metrics, "/healthz").await;
        let (_, metrics) = get(agent_metrics, "/metrics").await;
        (status, metrics.lines().any(|line| line == "slaprobe_agent_spool_write_failing 1"))
    };
    assert_eq!(failing().await, (200, false));

    let filler = fill(&spool_dir);
    wait::until(Duration::from_secs(20), "the agent to notice the full disk", async || failing().await == (503, true))
        .await;
    let before_recovery = stored(&database).await.len();
    tokio::time::sleep(Duration::from_secs(4)).await; // probing goes on into memory
    std::fs::remove_file(&filler).unwrap();
    wait::until(Duration::from_secs(10), "the agent to recover by itself", async || failing().await == (200, false))
        .await;
    wait::until(Duration::from_secs(20), "the held results to arrive", async || {
        stored(&database).await.len() >= before_recovery + 6 * CHECKS
    })
    .await;

    agent.signal(Signal::SIGTERM);
    let (status, log, _) = tokio::task::block_in_place(|| agent.wait(Duration::from_secs(15)));
    assert!(status.success(), "{log}");
    assert!(log.contains("Cannot write results to the spool") && log.contains("Spool writes work again"), "{log}");
    let results = stored(&database).await;
    let seqs: Vec<u64> = results.iter().map(|record| record.seq.unwrap()).collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=seqs.len() as u64).collect::<Vec<_>>(), "gap-free, no duplicates");
    let starts: Vec<i64> = results
        .iter()
        .filter(|record| record.check_id == "grpc-port-0")
        .map(|record| record.started_at.as_second())
        .collect();
    assert!(starts.windows(2).all(|pair| pair[1] - pair[0] <= 2), "a hole in probing: {starts:?}");
}
