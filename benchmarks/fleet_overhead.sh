#!/usr/bin/env bash
# What the Ray path adds per configuration: experiments/fleet.yaml run side by side in one session, locally, on one
# Ray node (serial, like the local runner) and on two (box=a, box=b: two Ray nodes on this host, one inferbench_slot
# each), twice local/one-node in turn. Prints each run's duration (the session record's, without connecting and the
# report) and each configuration's time on its node. Stops only the Ray processes of the cluster it started.
#   bash benchmarks/fleet_overhead.sh [OUT_DIR]      # default /tmp/fleet_overhead
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/fleet_overhead}; PORT=6390; RAY=.venv/bin/ray
rm -rf "$OUT"; mkdir -p "$OUT"
NODE=(--num-cpus 1 --resources '{"inferbench_slot": 1}' --object-store-memory 100000000 --disable-usage-stats)
$RAY start --head --port $PORT --include-dashboard false --labels box=a "${NODE[@]}" > "$OUT/ray_head.txt" 2>&1
SESSION=$(basename "$(readlink -f /tmp/ray/session_latest)")
stop() {  # SIGTERM, then SIGKILL to what is left 5 s later (the GCS and raylets outlive a SIGTERM)
  local pids; pids=$(ps -eo pid=,args= | grep -F "$SESSION" | grep -v grep | awk '{print $1}')
  kill $pids 2>/dev/null || true; sleep 5; kill -9 $pids 2>/dev/null || true
}
trap stop EXIT
$RAY start --address 127.0.0.1:$PORT --labels box=b "${NODE[@]}" > "$OUT/ray_worker.txt" 2>&1
run() {  # name, then run_experiment.py's flags
  local name=$1; shift
  sed "s#^output: .*#output: $OUT/$name#" experiments/fleet.yaml > "$OUT/$name.yaml"
  .venv/bin/python run_experiment.py "$OUT/$name.yaml" "$@" > "$OUT/$name.out" 2> "$OUT/$name.err"
}
run local1; run one1 --cluster 127.0.0.1:$PORT --nodes box=a
run local2; run one2 --cluster 127.0.0.1:$PORT --nodes box=a
run two --cluster 127.0.0.1:$PORT
.venv/bin/python - "$OUT" <<'PY'
import datetime, json, sys
from pathlib import Path
t = lambda s: datetime.datetime.fromisoformat(s).timestamp()
for run in ("local1", "one1", "local2", "one2", "two"):
  rec = json.loads(next((Path(sys.argv[1]) / run).glob("session_*.json")).read_text())
  spans = [f"{c['quantize']} on {c['node'][:8]} {t(c['ended_at']) - t(c['started_at']):.2f} s" for c in rec["configurations"] if "node" in c]
  print(f"{run:7s} {rec['ok']} ok in {rec['duration_s']:5.1f} s" + (f"  ({'; '.join(spans)})" if spans else ""))
PY
