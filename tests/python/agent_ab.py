"""The agent's CPU per probe, two builds side by side in one session: each runs alone, standalone, with 1,000
HTTP checks at 1 s against blackbox_exporter's `/-/healthy` on loopback (Debian's prometheus-blackbox-exporter
package), CPU read from /proc over 20 s after a 3 s warm-up; the two alternate ROUNDS times, so that the
machine's drift between runs falls on both. For a change whose cost is too small for bench_agent's run-to-run
spread to show.

Usage: python3 agent_ab.py BEFORE_AGENT AFTER_AGENT [ROUNDS]
  e.g. git worktree add /tmp/before <commit> && (cd /tmp/before && CARGO_TARGET_DIR=/tmp/before-target \\
       cargo build --release -p slaprobe-agent), then compare /tmp/before-target/release/slaprobe-agent with
       target/release/slaprobe-agent.
"""

import os
import subprocess
import sys
import tempfile
import time

PORT = 19115
CHECKS = 1000
SECONDS = 20


def ticks(pid):
    stat = open(f"/proc/{pid}/stat").read()
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def lines(path):
    with open(path) as file:
        return sum(1 for _ in file)


def run(binary, config, output):
    agent = subprocess.Popen([binary, "--config", config, "--output", f"jsonl:{output}"],
                             env={**os.environ, "SLAPROBE_LOG": "warn"}, stdout=subprocess.DEVNULL)
    time.sleep(3)
    start_ticks, start_lines = ticks(agent.pid), lines(output)
    time.sleep(SECONDS)
    end_ticks, end_lines = ticks(agent.pid), lines(output)
    agent.terminate()
    agent.wait()
    probes = end_lines - start_lines
    failed = sum(1 for line in open(output) if '"ok":false' in line)
    return (end_ticks - start_ticks) / os.sysconf("SC_CLK_TCK") * 1000 / probes, probes, failed


def main(before, after, rounds):
    work = tempfile.mkdtemp()
    server = subprocess.Popen(["prometheus-blackbox-exporter", f"--web.listen-address=127.0.0.1:{PORT}",
                               "--config.file=/etc/prometheus/blackbox.yml", "--log.level=error"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    checks = "".join(f"  - {{ id: c{index}, kind: http, target: \"http://127.0.0.1:{PORT}/-/healthy\", "
                     f"interval: 1s, timeout: 500ms }}\n" for index in range(CHECKS))
    config = os.path.join(work, "agent.yaml")
    open(config, "w").write("agent_id: ab\nregion: ab\nworker_threads: 1\nchecks:\n" + checks)
    figures = {"before": [], "after": []}
    try:
        for round_number in range(rounds):
            for label, binary in (("before", before), ("after", after)):
                output = os.path.join(work, f"{label}-{round_number}.jsonl")
                per_probe, probes, failed = run(binary, config, output)
                if failed:
                    sys.exit(f"{label}: {failed} probes failed; is the target up?")
                figures[label].append(per_probe)
                print(f"round {round_number}: {label:<6} {probes} probes, CPU {per_probe:.4f} ms per probe", flush=True)
    finally:
        server.terminate()
    for label, values in figures.items():
        listed = ", ".join(f"{value:.4f}" for value in values)
        print(f"{label:<6} mean {sum(values) / len(values):.4f} ms per probe over {len(values)} runs: {listed}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 3)
