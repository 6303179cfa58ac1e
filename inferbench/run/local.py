"""Running configurations on this machine: each in a fresh worker process, its log ended with a status whatever
happens to the worker, with progress lines and the summary table at the end."""
from __future__ import annotations
import dataclasses, os, re, socket, subprocess, sys, time
from collections import deque
from pathlib import Path
from typing import Any, Callable
from inferbench import backends
from inferbench.analyse import analysis
from inferbench.core import files, memory, proc
from inferbench.core.config import RunConfig
from inferbench.measure.worker import PARENT_DIED
from inferbench.store.rawlog import LogWriter, append_status

def log_name(cfg: RunConfig, host: str | None = None) -> str:
  """The log's file name: what it ran, on which host (this one unless given), and its id."""
  clean = lambda s: re.sub(r"[^A-Za-z0-9.-]+", "-", str(s))
  size = cfg.size + ("-synthetic" if cfg.weights == "synthetic" else "")
  return f"{cfg.backend}_{clean(host or socket.gethostname())}_{clean(size)}_{clean(cfg.quantize)}_seed{cfg.seed}_uuid{cfg.uuid}.txt"

def run_one(cfg: RunConfig, path: Path, timeout: float | None) -> str:
  """Runs one configuration in a worker process and makes sure its log ends with a status. Returns that status.
  The worker has its own process group: at `timeout` seconds a timer stops it (SIGTERM, then SIGKILL), whatever it
  prints or does not print, and so does Ctrl-C or a stop signal to this process."""
  env = {**os.environ, **getattr(backends.get(cfg.backend), "environment", lambda c: {})(cfg)}
  cmd = [sys.executable, "-m", "inferbench.measure.worker", cfg.to_json(), str(path)]
  tail: deque[str] = deque(maxlen=5)
  oom = proc.oom_kills()
  worker = proc.start(cmd, death_signal=PARENT_DIED, stderr=subprocess.PIPE, text=True, errors="replace", env=env,
                      cwd=files.ROOT)
  relay = proc.relay(worker.stderr, tail, keep=lambda line: not line.lstrip().startswith("["))  # progress lines explain nothing
  try: rc = proc.wait(worker, timeout)
  except BaseException as e:  # Ctrl-C, or this process was told to stop (proc.Stopped): the worker goes first
    proc.stop(worker)
    end_log(cfg, path, f"failed: {proc.interrupted(e)}")
    raise
  relay.join(timeout=1.0)
  if rc is None: return end_log(cfg, path, f"failed: timed out after {timeout:g} s")
  return end_log(cfg, path, f"failed: {proc.exit_reason('worker', rc, oom)}" + (f": {tail[-1]}" if tail else ""))

def end_log(cfg: RunConfig, path: Path, status: str) -> str:
  """Ends a log the worker could not end itself; returns the log's status. A log whose last line is a status has
  ended, whether or not the parser accepts the rest: nothing is ever appended after it."""
  if path.exists():
    with open(path, "rb+") as f:
      size = f.seek(0, os.SEEK_END)
      start = f.seek(max(0, size - STATUS_TAIL_BYTES))
      if b"\n" not in (tail := f.read()) and start: tail, start = (f.seek(0), f.read())[1], 0  # one very long torn line
      complete, _, torn = tail.rpartition(b"\n")
      if not torn and (b"\n" in complete or not start) and (last := complete.rpartition(b"\n")[2]).startswith(b"status: "):
        return last.removeprefix(b"status: ").decode("utf-8", errors="replace")
      size = f.truncate(size - len(torn))  # a line cut short by the kill is an unfinished record, never a valid one
    try:
      if size:
        append_status(path, status)
        return status
    except OSError as e:
      if not files.full(e): raise
      path.unlink()  # no room for its status (the disk is full): a log without one would read as cut short
      return status
    path.unlink()  # not even the first line was written
  try:
    w = LogWriter(path)
    w.header({"backend": cfg.backend, "size": cfg.size, "quantize": cfg.quantize, "seed": cfg.seed, "uuid": cfg.uuid})
    w.close(status)
  except OSError as e:
    if not files.full(e): raise
    path.unlink(missing_ok=True)
  return status

STATUS_TAIL_BYTES = 1 << 16  # holds the last line of any log: its status, or a torn step

def run_all(configs: list, output_dir: Path, run: Callable[[Any, Path], str]) -> list[dict]:
  """Runs each configuration with progress lines, then prints the summary table of what ran (analysis.py's
  statistics, the same as summary.csv's). Returns each configuration's log and status."""
  output_dir.mkdir(parents=True, exist_ok=True)
  done = []
  for i, cfg in enumerate(configs, 1):
    path = output_dir / log_name(cfg)
    print(f"[{i}/{len(configs)}] {cfg.label} -> {path}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    status = run(cfg, path)
    print(f"[{i}/{len(configs)}] {cfg.label}: {status} in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    done.append({"label": cfg.label, "log": path, "status": status})
    if files.FULL in status and i < len(configs):  # the next configurations would find the disk full too
      print(f"stopped: the disk is full; {len(configs) - i} configuration(s) not run", file=sys.stderr)
      break
  summarize(done)
  return done

def summarize(done: list[dict], by_host: bool = False):
  """The summary table of what ran (analysis.py's statistics, the same as summary.csv's), one per host if asked,
  then a line per configuration that did not end ok."""
  try:
    data = analysis.from_logs([d["log"] for d in done if d["log"]])
    summary = analysis.analyse(data)[1] if len(data.steps) else None
  except analysis.AnalysisError as e:  # the logs are written whatever the summary finds: the command keeps its exit code
    print(f"warning: no summary table: {e}", file=sys.stderr)
    summary = None
  if summary is not None:
    for host, rows in summary.groupby("hostname", sort=True) if by_host else [(None, summary)]:
      print(*[f"host {host}"] if by_host else [], analysis.table(rows), sep="\n")
  for d in done:
    if d["status"] != "ok": print(f"FAILED {d['label']}: {d['status']}" + (f" ({d['log']})" if d["log"] and Path(d["log"]).exists() else ""))
def run_limited(cfg: RunConfig, path: Path, timeout: float | None) -> str:
  """run_one under the configuration's memory limit: in a fresh cgroup v2 where this machine allows one (the
  worker joins it), else the worker sets RLIMIT_AS itself. Most out-of-memory ends the worker writes itself; two reach
  only this parent: a cgroup's OOM kill (SIGKILL, confirmed by the cgroup's count) and a C++ std::bad_alloc that
  escaped into std::terminate (SIGABRT). For those the returned status says out of memory; the log keeps run_one's
  account of the signal."""
  if cfg.memory_limit_bytes is None: return run_one(cfg, path, timeout)
  cg = memory.make_cgroup(cfg.memory_limit_bytes)
  limit = memory.Limit(cfg.memory_limit_bytes, "cgroup" if cg else "rlimit", str(cg) if cg else None)
  try:
    status = run_one(dataclasses.replace(cfg, memory_cgroup=limit.cgroup), path, timeout)
    if status.startswith("failed") and not out_of_memory(status):
      if cg and memory.cgroup_oom_kills(cg): return limit.status(f"killed by the kernel's OOM killer ({status})")
      if memory.OOM.search(status): return limit.status(status.removeprefix("failed: "))
    return status
  finally: memory.remove_cgroup(cg)

def out_of_memory(status: str) -> bool: return status.startswith("failed: out of memory")
