"""A full disk, for real: a small tmpfs filled up during a benchmark's log, collate's CSV, the analysis's outputs and a
sweep's journal. Each stops with one line naming the full disk and the path, leaves what was there before as it was
(and no half-written file), and a rerun once space is freed completes."""
import re, shutil, subprocess, sys
from pathlib import Path
import pytest
from benchdata import ROOT
from inferbench.core.files import FULL
from inferbench.store.rawlog import parse
from test_rawlog import write_log

@pytest.fixture
def disk(tmp_path):
  """A 4 MiB tmpfs of its own (mounting one needs root: skipped without)."""
  mnt = tmp_path / "disk"
  mnt.mkdir()
  if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True).returncode:
    pytest.skip("cannot mount a tmpfs here (needs root)")
  try: yield mnt
  finally: subprocess.run(["umount", "-l", str(mnt)], check=True)

def fill(disk: Path, leave: int = 0):
  """Takes the disk's free space but `leave` bytes."""
  with open(disk / "filler", "ab") as f: f.write(b"\0" * max(0, shutil.disk_usage(disk).free - leave))

def free(disk: Path): (disk / "filler").unlink()

def files(folder: Path) -> dict[str, bytes]:
  return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "filler"}

def full_line(text: str, disk: Path, path: Path) -> bool:
  """A line that says the disk at `disk` is full, and names path."""
  return any(FULL in line and f" at {disk} (" in line and str(path) in line for line in text.splitlines())

def run(*args: str) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)

BENCH = ["--size", "tiny", "--n-tokens", "48", "--runs", "2", "--warmup", "0", "--min-seconds", "0", "--threads", "1"]

def test_a_benchmark_whose_log_fills_the_disk(disk, tiny_model):
  out = disk / "out"
  assert run("llamacpp_benchmark.py", "--model", str(tiny_model), *BENCH, "-o", str(out)).returncode == 0
  before = files(out)
  fill(disk, leave=6000)  # the next log's header and a few of its steps
  r = run("llamacpp_benchmark.py", "--model", str(tiny_model), *BENCH, "--seed", "1", "2", "-o", str(out))
  assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
  log = Path(re.search(r"^\[1/2\] .* -> (\S+)$", r.stderr, re.M)[1])
  assert full_line(r.stderr, disk, log) and "stopped: the disk is full; 1 configuration(s) not run" in r.stderr
  assert r.stdout.count("\n") == 1 and r.stdout.startswith("FAILED ") and full_line(r.stdout, disk, log)  # which, and why
  after = files(out)
  assert {k: after.get(k) for k in before} == before  # the earlier log as it was
  assert set(after) - set(before) <= {log.name} and (not log.exists() or parse(log).status.startswith(f"failed: "))  # gone, or ended
  free(disk)
  assert run("llamacpp_benchmark.py", "--model", str(tiny_model), *BENCH, "--seed", "1", "2", "-o", str(out)).returncode == 0

def logs(folder: Path, ids, serving: bool = False) -> list[Path]:
  return [write_log(folder / f"{'mlc' if serving else 'llamacpp'}_{i}.txt", runs=3, n_decode=40, serving=serving,
                    header={"uuid": f"u{i}", "started_at": f"2026-11-22T18:{i:02d}:00+00:00"} | ({"backend": "mlc"} if serving else {}))
          for i in ids]

@pytest.mark.parametrize("script, csv, serving", [("llamacpp_collate.py", "llamacpp.csv", False), ("mlc_collate.py", "mlc_llm.csv", True)])
def test_collate_on_a_full_disk(disk, script, csv, serving):
  logs(disk, range(2), serving)
  assert run(script, "-d", str(disk)).returncode == 0
  logs(disk, [2], serving)
  before = files(disk)
  fill(disk, leave=2000)  # less than the CSV
  r = run(script, "-d", str(disk))
  assert r.returncode == 1 and r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and full_line(r.stderr, disk, disk / csv), r.stderr
  assert files(disk) == before  # the CSV and its index as they were, no temporary file
  free(disk)
  r = run(script, "-d", str(disk))
  assert r.returncode == 0 and r.stdout.endswith(": 369 rows\n"), r.stdout  # 3 logs x 3 runs x 41 steps

def test_the_analysis_on_a_full_disk(disk):
  logs(disk, range(2))
  assert run("llamacpp_collate.py", "-d", str(disk)).returncode == 0 and run("benchmark_analysis.py", "-d", str(disk)).returncode == 0
  logs(disk, [2])
  assert run("llamacpp_collate.py", "-d", str(disk)).returncode == 0
  before = files(disk)
  fill(disk, leave=3000)  # room for some of the outputs, not all
  r = run("benchmark_analysis.py", "-d", str(disk))
  assert r.returncode == 1 and r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and FULL in r.stderr, r.stderr
  assert full_line(r.stderr, disk, Path(re.search(rf"({re.escape(str(disk))}/\S+\.csv)", r.stderr)[1]))
  assert files(disk) == before  # every output of the first analysis as it was: none half-written, none updated alone
  free(disk)
  r = run("benchmark_analysis.py", "-d", str(disk))
  assert r.returncode == 0 and "from 9 runs" in r.stdout, r.stdout

SWEEP = ["--size", "tiny", "--task-examples", "0", "--runs", "1", "--warmup", "0", "--min-seconds", "0", "--n-tokens", "4",
         "--quality-tokens", "64", "--quality-ctx", "32", "--threads", "1"]

def test_a_sweep_whose_journal_finds_the_disk_full(disk, tiny_model, tmp_path):
  out, plot = disk / "out", ["--plot", str(tmp_path / "p.png")]
  assert run("llamacpp_sweep.py", "--model", str(tiny_model), "--quantize", "F16", *SWEEP, "-o", str(out), *plot).returncode == 0
  before = files(out)
  fill(disk)
  r = run("llamacpp_sweep.py", "--model", str(tiny_model), "--quantize", "F16", "Q8_0", *SWEEP, "-o", str(out), *plot)
  assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
  assert r.stderr.splitlines()[-1].startswith("error: ") and full_line(r.stderr.splitlines()[-1], disk, out / "sweep_tiny" / "F16.quantize.json"), r.stderr
  assert files(out) == before  # its journals and CSV as they were
  free(disk)
  r = run("llamacpp_sweep.py", "--model", str(tiny_model), "--quantize", "F16", "Q8_0", *SWEEP, "-o", str(out), *plot)
  assert r.returncode == 0 and "speed-llamacpp: done" in r.stderr and "sweep_tiny.csv: 2 rows" in r.stdout, r.stderr  # F16's speed not run again
