"""Fleet runs on a real Ray cluster the tests start on this machine: two nodes, each with its one inferbench_slot and
its own label (box=a, box=b), sharing one host. Same logs as the local runner, never two configurations at once
on a node, a node lost mid-run, unschedulable labels reported first, resume."""
import json, re, subprocess, sys, time
from pathlib import Path
import pandas as pd
import psutil
import pytest
import yaml
from inferbench.run import experiment, fleet, bench
from inferbench.store import rawlog

ROOT = Path(__file__).resolve().parent.parent
NODE = dict(num_cpus=1, resources={fleet.SLOT: 1}, object_store_memory=100 << 20)  # small: this machine runs three agents

@pytest.fixture(scope="module")
def cluster():
  from ray.cluster_utils import Cluster
  c = Cluster(initialize_head=True, head_node_args={**NODE, "labels": {"box": "a"}, "include_dashboard": False})
  c.add_node(**NODE, labels={"box": "b"})
  yield c
  c.shutdown()

def node_b(cluster):
  """The worker node labelled box=b, started again if a test removed it."""
  if not (b := [n for n in cluster.worker_nodes if n.node_id]):
    b = [cluster.add_node(**NODE, labels={"box": "b"})]
    cluster.wait_for_nodes()
  return b[0]

def wait_for_worker(node, timeout_s: float = 120.0) -> None:
  """Until a benchmark worker runs under the node's raylet (raylet > Ray worker > inferbench.measure.worker)."""
  raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
  end = time.monotonic() + timeout_s
  while time.monotonic() < end:
    for p in raylet.children(recursive=True):
      try:
        if "inferbench.measure.worker" in p.cmdline(): return
      except psutil.NoSuchProcess: continue
    time.sleep(0.02)
  raise AssertionError(f"no benchmark worker started on node {node.node_id[:8]} in {timeout_s:.0f} s")

def write(tmp_path: Path, name: str, tiny_model: Path, out: str, **keys) -> Path:
  path = tmp_path / f"{name}.yaml"
  path.write_text(yaml.safe_dump({"name": name, "backends": ["llamacpp"], "models": [str(tiny_model)], "prompt_tokens": [8], "n_tokens": [3],
                                  "ctx": [64], "threads": [1], "runs": 1, "warmup": 0, "min_seconds": 0, "seed": [1, 2, 3],
                                  "output": str(tmp_path / out), **keys}))
  return path

def session(out: Path) -> dict: return json.loads(max(out.glob("session_*.json"), key=lambda p: p.stat().st_mtime).read_text())

# what differs between two runs of one configuration: its id, clocks, timings and memory figures
VARYING = re.compile(r"^(uuid|started_at|\w+_seconds|rss_before_load_bytes|vm_before_load_bytes|peak_rss_bytes_load): .*$", re.M)
TIMES = re.compile(r'"(enqueue_latency_ms|total_latency_ms|internal_\w+_ms|peak_rss_bytes|vm_size_bytes)": [0-9.e+-]+')

def normalized(path: Path) -> str: return TIMES.sub(r'"\1": X', VARYING.sub(r"\1: X", path.read_text()))

def by_settings(out: Path) -> dict[str, Path]:
  return {rawlog.parse(p).header["run_config"]: p for p in out.glob("*.txt")}

def test_cluster_run_writes_the_local_runners_logs_one_configuration_per_node_at_a_time(cluster, tiny_model, tmp_path, capsys):
  assert experiment.main([str(write(tmp_path, "local", tiny_model, "local"))]) == 0
  assert experiment.main([str(write(tmp_path, "fleet", tiny_model, "fleet")), "--cluster", cluster.address]) == 0
  captured = capsys.readouterr()
  local, remote = by_settings(tmp_path / "local"), by_settings(tmp_path / "fleet")
  assert len(local) == 3 and local.keys() == remote.keys()
  for key, path in local.items():  # byte for byte, apart from ids, clocks and timings, under the same kind of name
    assert normalized(remote[key]) == normalized(path)
    assert remote[key].name.split("_uuid")[0] == path.name.split("_uuid")[0]
    assert rawlog.parse(remote[key]).ok
  assert list(pd.read_csv(tmp_path / "fleet" / "llamacpp.csv").columns) == list(pd.read_csv(tmp_path / "local" / "llamacpp.csv").columns)
  # one line per configuration names its node; the summary table is per host
  ran = re.findall(r"\] (llamacpp .*?) on (\S+) \(node ([0-9a-f]{8})\): ok in", captured.err)
  assert len(ran) == 3 and "host " in captured.out
  # never two configurations at once on one node: the nodes' own clocks around each run, and each log's start
  rec = session(tmp_path / "fleet")
  runs = [c for c in rec["configurations"] if c["status"] == "ok"]
  assert len(runs) == 3 and rec["cluster"] == cluster.address
  for node in {c["node"] for c in runs}:
    spans = sorted((c["started_at"], c["ended_at"]) for c in runs if c["node"] == node)
    assert all(end <= nxt for (_, end), (nxt, _) in zip(spans, spans[1:])), spans
  for c in runs:
    assert c["started_at"][:19] <= rawlog.parse(tmp_path / "fleet" / c["log"]).header["started_at"][:19] <= c["ended_at"][:19]

def test_a_label_no_node_offers_is_reported_before_anything_runs(cluster, tiny_model, tmp_path, capsys):
  none = write(tmp_path, "none", tiny_model, "none", seed=[1], nodes=["box=z"])
  assert experiment.main([str(none), "--cluster", cluster.address]) == 2
  err = capsys.readouterr().err
  assert "no node offers box=z (the nodes offer: box=a, box=b, cpu" in err and "none of the 1 configuration(s)" in err
  assert not (tmp_path / "none").exists()
  some = write(tmp_path, "some", tiny_model, "some", seed=[1], nodes=["box=z", "box=b,cpu"])
  assert experiment.main([str(some), "--cluster", cluster.address]) == 1  # the other one ran
  err = capsys.readouterr().err
  assert err.index("unschedulable: no node offers box=z") < err.index(": running on")
  [log] = [rawlog.parse(p) for p in (tmp_path / "some").glob("*.txt")]
  assert log.ok and json.loads(log.header["run_config"])["nodes"] == "box=b,cpu"
  rec = session(tmp_path / "some")
  assert (rec["ok"], rec["failed"]) == (1, 1) and rec["configurations"][0]["status"].startswith("unschedulable: no node offers box=z")

def test_benchmark_script_on_a_labelled_node(cluster, tiny_model, tmp_path, capsys):
  argv = ["--model", str(tiny_model), "--prompt-tokens", "8", "--n-tokens", "3", "--ctx", "64", "--runs", "1", "--warmup", "0",
          "--min-seconds", "0", "--threads", "1", "-o", str(tmp_path), "--cluster", cluster.address, "--nodes", "box=b"]
  assert bench.main("llamacpp", argv) == 0
  assert f"on {fleet.socket.gethostname()} (node {node_b(cluster).node_id[:8]}): ok" in capsys.readouterr().err
  assert bench.main("llamacpp", [*argv[:-4], "--nodes", "box=b"]) == 2  # --nodes without --cluster

@pytest.mark.timeout(900)  # a guard: a wait that never ends fails here, not at CI's limit
def test_a_node_lost_mid_run_fails_its_configuration_the_rest_completes_and_resume_reruns_it(cluster, tiny_model, tmp_path):
  b = node_b(cluster)
  # two configurations, one a node: none is scheduled while a node dies (a task started on the head node right then
  # was once ended by Ray with WorkerCrashedError in the full suite: Ray's race, not this test's subject)
  exp = write(tmp_path, "lost", tiny_model, "lost", runs=2, seed=[1, 2])  # a few seconds each, the worker's start most of it
  cmd = [sys.executable, str(ROOT / "run_experiment.py"), str(exp), "--cluster", cluster.address]
  p = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
  lines = []
  for line in p.stderr:
    lines.append(line)
    if f"(node {b.node_id[:8]})" in line and "running on" in line:
      wait_for_worker(b)  # its worker has started: the node dies mid-run
      cluster.remove_node(b, allow_graceful=False)
      break
  lines += p.stderr.readlines()
  assert p.wait(timeout=300) == 1, "".join(lines)
  logs = [rawlog.parse(q) for q in (tmp_path / "lost").glob("*.txt")]
  assert sorted(l.status for l in logs) == ["failed: node lost", "ok"], "".join(lines)
  node_b(cluster)  # a node b again
  # the lost node may still look alive to Ray for a moment: a retry lands the configuration on a live one
  r = subprocess.run([*cmd, "--retries", "2"], cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert r.returncode == 0, r.stderr[-2000:]
  rec = session(tmp_path / "lost")
  assert (rec["planned"], rec["skipped"], rec["ok"], rec["failed"]) == (2, 1, 1, 0)

def test_a_gpu_node_runs_one_configuration_per_gpu_each_pinned_to_its_gpu_and_its_own_cores(cluster, tiny_model, tmp_path):
  # the one stand-in allowed: a node declaring 2 GPUs (Ray's accounting and ray.get_gpu_ids() as on a real one; no NVML here)
  g = cluster.add_node(**{**NODE, "num_cpus": 2}, num_gpus=2, labels={"box": "g"})
  cluster.wait_for_nodes()
  try:
    # device auto, every matching node a GPU node: one GPU each, both at once on the node's two GPUs
    assert experiment.main([str(write(tmp_path, "gpus", tiny_model, "gpus", seed=[1, 2], device="auto", nodes=["box=g"])),
                            "--cluster", cluster.address]) == 0
    runs = [c for c in session(tmp_path / "gpus")["configurations"] if c["status"] == "ok"]
    assert len(runs) == 2 and {c["node"] for c in runs} == {g.node_id}
    (s1, e1), (s2, e2) = sorted((c["started_at"], c["ended_at"]) for c in runs)
    assert s2 < e1, "the two configurations ran one after the other, not at once on the node's two GPUs"
    headers = [rawlog.parse(p).header for p in (tmp_path / "gpus").glob("*.txt")]
    assert sorted(h["gpu_index"] for h in headers) == ["0", "1"]
    cores = [set(h["cpu_affinity"].split(",")) for h in headers]
    assert len(cores) == 2 and cores[0] and cores[1] and not cores[0] & cores[1], cores
    assert not any(k in h for h in headers for k in ("gpu_name", "gpu_uuid", "gpu_memory_bytes"))  # no NVML: absent, never made up
    # a GPU that fails (here: a CUDA run on a llama.cpp without CUDA) fails its configuration, not the fleet
    assert experiment.main([str(write(tmp_path, "cuda", tiny_model, "cuda", seed=[1, 2], device="cuda", nodes=["box=g"])),
                            "--cluster", cluster.address]) == 1
    logs = [rawlog.parse(p) for p in (tmp_path / "cuda").glob("*.txt")]
    assert len(logs) == 2 and all(l.status.startswith("failed") and l.header["gpu_index"] in ("0", "1") for l in logs)
    # more GPUs than any node has: reported before anything runs
    big = write(tmp_path, "big", tiny_model, "big", seed=[1], device="cuda", nodes=["box=g"], gpus=[4])
    assert experiment.main([str(big), "--cluster", cluster.address]) == 2
  finally:
    cluster.remove_node(g)
