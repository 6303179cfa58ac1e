"""Memory: sizes, the boundary search, a limit that makes a configuration run out (and the next one still run), and
find_limits end to end on the tiny model, all on real llama.cpp workers."""
import csv, os, shutil, signal, subprocess, sys
from pathlib import Path
import pytest
from inferbench.run import limits, bench, local
from inferbench.core import memory
from inferbench.store import rawlog

FAST = ["--n-tokens", "4", "--runs", "1", "--warmup", "0", "--min-seconds", "0", "--threads", "1"]
LIMIT = "330MiB"  # the tiny model at ctx 128 runs well under it; a context of 65536 positions does not

def test_parse_size():
  assert memory.parse_size("600MiB") == 600 * 2**20
  assert memory.parse_size("1.5G") == int(1.5 * 2**30) and memory.parse_size("2GB") == 2 * 10**9 and memory.parse_size("4096") == 4096
  with pytest.raises(ValueError, match="not understood"): memory.parse_size("lots")

@pytest.mark.parametrize("boundary", [100, 1000, 5000, 77777])
def test_search_finds_a_known_boundary_within_tolerance(boundary):
  probe = lambda ctx: "ok" if ctx <= boundary else "failed: out of memory (limit 1 MiB, RLIMIT_AS): test"
  fits, fails, tried = limits.search(probe, 512, 1 << 20, 0.05)
  assert fits <= boundary < fails
  assert fails - fits <= max(limits.GRANULE, 0.05 * fits)
  assert len(tried) < 20

def test_search_stops_at_a_failure_that_is_not_memory():
  fits, fails, tried = limits.search(lambda ctx: "ok" if ctx < 2000 else "failed: something else", 512, 1 << 20, 0.05)
  assert (fits, fails) == (1024, None) and tried[-1] == (2048, "failed: something else")

def test_a_tiny_limit_ends_one_configuration_out_of_memory_and_the_next_still_runs(tiny_model, tmp_path):
  rc = bench.main("llamacpp", ["--model", str(tiny_model), "--size", "tiny", "-o", str(tmp_path), *FAST,
                                "--ctx", "65536", "128", "--memory-limit", LIMIT])
  assert rc == 1  # one failed
  logs = {int(l.header["ctx"]): l for l in map(rawlog.parse, tmp_path.glob("*.txt"))}
  assert logs[65536].status.startswith(f"failed: out of memory (limit {memory.format_size(memory.parse_size(LIMIT))}")
  assert logs[128].ok and len(logs[128].steps) == 5
  h = logs[128].header
  assert int(h["memory_limit_bytes"]) == memory.parse_size(LIMIT) and h["memory_limit_mechanism"] in ("RLIMIT_AS", "cgroup v2 memory.max")
  if h["memory_limit_mechanism"] == "RLIMIT_AS": assert "virtual address space" in h["memory_limit_caveat"]
  # memory in every log: the run's peak, and the prediction
  assert 0 < logs[128].runs[0]["peak_rss_bytes"] < memory.parse_size(LIMIT)
  assert int(h["predicted_bytes"]) >= int(h["model_bytes"]) + int(h["predicted_kv_bytes"])

@pytest.mark.parametrize("flags, why", [
  (["--memory-limit", "10MiB"], "a worker needs before loading any model"),
  (["--batch", "0"], "argument --batch: 0 is too small"),
  (["--n-tokens", "-3"], "argument --n-tokens: -3 is too small"),
  (["--ctx", "0"], "--ctx 0 is smaller than the prompt"),
  (["--batch", "1000"], "at most 256 sequence"),
  (["--ctx", "16", "--prompt-tokens", "20"], "--ctx 16 is smaller than the prompt (20 tokens)"),
])
def test_bad_input_is_refused_before_anything_runs(tiny_model, tmp_path, capsys, flags, why):
  try: rc = bench.main("llamacpp", ["--model", str(tiny_model), "--size", "tiny", "-o", str(tmp_path / "out"), *FAST, *flags])
  except SystemExit as e: rc = e.code  # argparse's own refusals
  assert rc == 2
  assert why in capsys.readouterr().err
  assert not (tmp_path / "out").exists()

def test_find_limits_brackets_the_boundary_with_real_probes(tiny_model, tmp_path):
  out = tmp_path / "limits"
  assert limits.main(["--model", str(tiny_model), "--memory-limit", LIMIT, "--batch", "1", "2", "--start-ctx", "128",
                      "--threads", "1", "-o", str(out)]) == 0
  rows = list(csv.DictReader(open(out / "limits.csv")))
  assert [r["batch"] for r in rows] == ["1", "2"]
  by_ctx = {(int(l.header["batch"]), int(l.header["ctx"])): l for l in map(rawlog.parse, (out / "logs").glob("*.txt"))}
  for row in rows:
    b, fits, fails = int(row["batch"]), int(row["ctx_fits"]), int(row["ctx_fails"])
    assert fails - fits <= max(limits.GRANULE, 0.05 * fits)
    # the worker wrote that it ran out, or (a std::bad_alloc that reached std::terminate) run_one logged the SIGABRT
    assert by_ctx[b, fits].ok and (local.out_of_memory(by_ctx[b, fits].status) or "bad_alloc" in by_ctx[b, fails].status or
                                   local.out_of_memory(by_ctx[b, fails].status))
    assert int(by_ctx[b, fits].header["n_prompt_tokens"]) == fits - 4  # the prompt filled the context
    # the memory model of what the limit counts, fitted on the probes that ran, puts the boundary within one search step
    step = fails - fits
    assert row["search_step"] == str(step) and abs(int(row["predicted_ctx"]) - fits) <= step and row["within_one_step"] == "True"
    assert int(row["prediction_error_positions"]) == int(row["predicted_ctx"]) - fits
    assert float(row["counted_bytes_at_fit"]) <= memory.parse_size(LIMIT) and float(row["overhead_bytes"]) > 0
    assert int(row["predicted_ctx_lo"] or 0) <= int(row["predicted_ctx"]) <= int(row["predicted_ctx_hi"])
    assert row["predicted_ctx_held_out"] == ""  # without this batch size's probes one batch size is left: the model declines
  assert (out / "limits.png").stat().st_size > 10_000

ROOT = Path(__file__).resolve().parent.parent
# a private mount namespace whose /sys/fs/cgroup is a cgroup v2 hierarchy, the memory controller on for its children
PRIVATE_V2 = "mount -t cgroup2 none /sys/fs/cgroup && echo +memory > /sys/fs/cgroup/cgroup.subtree_control && exec \"$@\""

def cgroup_round_trip():
  """make_cgroup, a process that touches more than its memory.max (OOM-killed, counted), remove_cgroup."""
  path = memory.make_cgroup(64 << 20)
  assert path is not None and path.parent == memory.own_cgroup() and memory.limit_kind() == "cgroup"
  assert (path / "memory.max").read_text().strip() == str(64 << 20) and memory.cgroup_oom_kills(path) == 0
  if (path / "memory.swap.max").is_file(): assert (path / "memory.swap.max").read_text().strip() == "0"  # no swap to spill into
  hog = f"import os; open({str(path / 'cgroup.procs')!r}, 'w').write(str(os.getpid())); b = b'x' * (256 << 20)"  # touched pages
  assert subprocess.run([sys.executable, "-c", hog]).returncode == -signal.SIGKILL
  assert memory.cgroup_oom_kills(path) == 1
  memory.remove_cgroup(path)
  assert not path.exists()
  memory.remove_cgroup(path)  # twice: nothing to remove is no error

def private_v2_refusal() -> str | None:
  """Why this machine gives no private cgroup v2 with the memory controller, or None where it does."""
  if os.geteuid() != 0 or not shutil.which("unshare"): return "a private cgroup2 mount needs root and unshare(1)"
  r = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t cgroup2 none /sys/fs/cgroup && cat /sys/fs/cgroup/cgroup.controllers"],
                     capture_output=True, text=True, timeout=30)
  if r.returncode: return f"the kernel refused a cgroup2 mount: {r.stderr.strip()}"
  if "memory" not in r.stdout.split():
    return (f"the kernel's memory controller is bound to the cgroup v1 hierarchy, so a cgroup2 mount offers only "
            f"{r.stdout.split() or 'no controllers'}: make_cgroup, cgroup_oom_kills and remove_cgroup cannot run here")
  return None

@pytest.mark.timeout(300)
def test_cgroup_v2_limit_made_enforced_counted_and_removed():
  if memory.limit_kind() == "cgroup": return cgroup_round_trip()  # this process may make child cgroups itself
  if why := private_v2_refusal(): pytest.skip(why)
  code = "import sys; sys.path[:0] = ['tests', '.']; import test_limits; test_limits.cgroup_round_trip()"
  r = subprocess.run(["unshare", "-m", "sh", "-c", PRIVATE_V2, "sh", sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
  assert r.returncode == 0, r.stderr[-2000:]

def test_the_worker_imports_no_analysis_library():
  """What a worker holds before loading a model counts against --memory-limit: scipy alone maps about 180 MiB of
  address space, which once came in through a display helper."""
  code = "import sys, inferbench.measure.worker; print(sorted(m for m in ('scipy', 'pandas', 'matplotlib', 'pyarrow') if m in sys.modules))"
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
  assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
