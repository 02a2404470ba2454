#!/usr/bin/env bash
# Starts slaprobe on this machine: a collector on an embedded SQLite file and a local agent that takes its checks
# from it. Everything lives under ./data/local (configs, token, database, spool). Ctrl-C stops both.
#
#   ./deploy/local/run.sh
#
# Then, in another shell:
#   open http://127.0.0.1:8080/ (dashboard), or curl -s http://127.0.0.1:8080/api/v1/contracts
#   target/release/slaprobe-collector report --config data/local/collector.yaml --period "$(date -u +%Y-%m)" --format md
#   target/release/slaprobe-collector evidence --config data/local/collector.yaml --contract collector-grpc \
#       --period "$(date -u +%Y-%m)" --out evidence.tar && target/release/slaprobe-verify evidence.tar
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked -p slaprobe-agent -p slaprobe-collector -p slaprobe-verify

state=data/local
# The token, the database and the spool are for this user's eyes only.
umask 077
mkdir -p "$state"
chmod 700 "$state"
if [ ! -f "$state/agent.token" ]; then
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$state/agent.token"
fi
token=$(cat "$state/agent.token")
token_sha256=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)

if [ ! -f "$state/collector.yaml" ]; then
  cat > "$state/collector.yaml" <<YAML
# Local collector: gRPC ingest on 127.0.0.1:7070, dashboard, API and /metrics on 127.0.0.1:8080, results in
# ./slaprobe.db (next to this file). Edits are picked up within 2 s (or on SIGHUP).
listen: { grpc: 127.0.0.1:7070, http: 127.0.0.1:8080 }
storage: { sqlite: slaprobe.db }
agents:
  - { id: local-agent, region: local, token_sha256: "$token_sha256" }
# The central check list, pushed to agents by region. Replace with your vendors' endpoints.
checks:
  - { id: collector-grpc, kind: tcp, target: "127.0.0.1:7070", interval: 30s }
control_checks:   # a known-good target: when the agent's controls fail, its results count as no data
  - { id: ctl-dashboard, kind: http, target: "http://127.0.0.1:8080/healthz", interval: 30s }
contracts:
  - id: collector-grpc
    vendor: This machine
    service: slaprobe collector (demo contract)
    checks: [collector-grpc]
    objective: 99.9
    credits: { fee: 100, currency: USD, tiers: [ { below: 99.9, credit: 10 } ] }
YAML
fi
cat > "$state/agent.yaml" <<YAML
agent_id: local-agent
region: local
collector: http://127.0.0.1:7070
token: \${SLAPROBE_TOKEN}
spool_dir: $PWD/$state/agent-spool
YAML

target/release/slaprobe-collector serve --config "$state/collector.yaml" &
collector=$!
trap 'kill "$agent" "$collector" 2>/dev/null; wait' INT TERM EXIT
sleep 1
SLAPROBE_TOKEN="$token" target/release/slaprobe-agent --config "$state/agent.yaml" &
agent=$!
echo "slaprobe is running: collector (pid $collector) on 127.0.0.1:7070, dashboard http://127.0.0.1:8080/, agent (pid $agent). Ctrl-C stops both."
wait
