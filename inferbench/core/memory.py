"""Memory of a worker: its peak (host RSS, device bytes) and the limit it runs under.

Low in the stack on purpose: the worker imports it, and limits.py (the boundary search) builds on it.

A limit is a cgroup v2 `memory.max` where this process may create a child cgroup (it counts the pages a process
touches, like the kernel's OOM killer), else RLIMIT_AS, which counts virtual address space: every mapping counts
in full, touched or not (thread stacks, malloc arenas, the mmapped model file), so under RLIMIT_AS a process runs
out well before its RSS reaches the limit. Each log says which one applied.
"""
from __future__ import annotations
import functools, os, re, resource, subprocess, sys, threading, uuid
from dataclasses import dataclass
from pathlib import Path
from inferbench.core import files
from inferbench.core.names import format_size  # noqa: F401  (memory.format_size: where callers look for it)

UNITS = {"": 1, "B": 1, "K": 2**10, "KB": 10**3, "KIB": 2**10, "M": 2**20, "MB": 10**6, "MIB": 2**20,
         "G": 2**30, "GB": 10**9, "GIB": 2**30, "T": 2**40, "TB": 10**12, "TIB": 2**40}

def parse_size(text: str | int) -> int:
  """'600MiB', '1.5G', '2GB' or a byte count -> bytes (K/M/G without a B are binary, as in cgroup files)."""
  if isinstance(text, int): return text
  m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(text))
  if not m or m.group(2).upper() not in UNITS:
    raise ValueError(f"memory size {text!r} not understood: write e.g. 600MiB, 1.5GiB, 2GB or a byte count")
  return int(float(m.group(1)) * UNITS[m.group(2).upper()])


def proc_status_bytes(key: str, pid: int | str = "self") -> int | None:
  """A kB field of /proc/PID/status (VmHWM: peak RSS, VmPeak: peak virtual size), in bytes."""
  try:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
      if line.startswith(key + ":"): return int(line.split()[1]) * 1024
  except OSError: pass
  return None

def peak_rss_bytes() -> int:
  """This process's peak resident set (VmHWM), or getrusage's ru_maxrss where /proc is missing."""
  return proc_status_bytes("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

def reset_peak_rss():
  """Starts VmHWM over from the current RSS (Linux: writing 5 to clear_refs); where that is refused, the peak stays
  the process's peak so far."""
  try: Path("/proc/self/clear_refs").write_text("5")
  except OSError: pass

class DeviceSampler:
  """Peak GPU memory this process holds, sampled by NVML (nvidia-ml-py) every `period_s` in a background thread.
  NVML reports a process's memory at allocation granularity, driver context included."""
  def __init__(self, period_s: float = 0.01):
    import pynvml
    pynvml.nvmlInit()
    self.nvml, self.period_s, self.peak, self.pid = pynvml, period_s, 0, os.getpid()
    self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    self.stop = threading.Event()
    self.thread = threading.Thread(target=self._loop, daemon=True)
    self.thread.start()

  def sample(self) -> int:
    used = 0
    for h in self.handles:
      for p in self.nvml.nvmlDeviceGetComputeRunningProcesses(h):
        if p.pid == self.pid and p.usedGpuMemory: used += p.usedGpuMemory
    self.peak = max(self.peak, used)
    return used

  def reset(self): self.peak = 0; self.sample()

  def _loop(self):
    while not self.stop.wait(self.period_s): self.sample()

  def close(self) -> int:
    self.stop.set(); self.thread.join()
    self.sample()
    self.nvml.nvmlShutdown()
    return self.peak

# --- limits ---

RLIMIT_CAVEAT = ("RLIMIT_AS limits virtual address space, not resident memory: reserved but untouched mappings "
                 "(thread stacks, malloc arenas, the mmapped model file) count in full, so the process fails "
                 "before its RSS reaches the limit")
# how running out of memory reads in Python's, llama.cpp's, the loader's and tinygrad's errors
OOM = re.compile(r"MemoryError|out of memory|Cannot allocate memory|failed to allocate|insufficient memory|bad_alloc|"
                 r"unable to allocate|failed to map segment|mmap failed|ENOMEM", re.I)

@dataclass(frozen=True)
class Limit:
  bytes: int
  mechanism: str            # "cgroup" (v2 memory.max) | "rlimit" (RLIMIT_AS)
  cgroup: str | None = None # the child cgroup the worker joins

  def header(self) -> dict:
    h = {"memory_limit_bytes": self.bytes, "memory_limit": format_size(self.bytes), "memory_limit_mechanism":
         "cgroup v2 memory.max" if self.mechanism == "cgroup" else "RLIMIT_AS",
         "memory_limit_scope": "from the backend's load on; the harness prepares the model file and tokenizer before"}
    if self.mechanism == "rlimit": h["memory_limit_caveat"] = RLIMIT_CAVEAT
    return h

  def status(self, reason: str) -> str:
    return f"failed: out of memory (limit {format_size(self.bytes)}, {self.header()['memory_limit_mechanism']}): {reason}"

RESERVE: list[bytearray] = []  # held while running under a limit, given back to write the log's end after running out

def hold_reserve(n_bytes: int = 16 << 20): RESERVE.append(bytearray(n_bytes))
def release_reserve(): RESERVE.clear()

def own_cgroup() -> Path | None:
  """This process's cgroup v2 folder, where the unified hierarchy is mounted."""
  try: lines = Path("/proc/self/cgroup").read_text().splitlines()
  except OSError: return None
  rel = next((l[3:] for l in lines if l.startswith("0::")), None)
  root = Path("/sys/fs/cgroup")
  return root / rel.lstrip("/") if rel is not None and (root / "cgroup.controllers").is_file() else None

def make_cgroup(limit_bytes: int) -> Path | None:
  """A child cgroup with memory.max = limit and no swap, or None where this process may not make one."""
  parent = own_cgroup()
  if parent is None or "memory" not in (parent / "cgroup.subtree_control").read_text().split(): return None
  path = parent / f"inferbench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
  try:
    path.mkdir()
    (path / "memory.max").write_text(str(limit_bytes))
    if (path / "memory.swap.max").is_file(): (path / "memory.swap.max").write_text("0")
    return path
  except OSError:
    remove_cgroup(path)
    return None

def remove_cgroup(path: Path | None):
  if path is not None:
    try: path.rmdir()
    except OSError: pass

def cgroup_oom_kills(path: Path) -> int:
  try: return int(dict(l.split() for l in (path / "memory.events").read_text().splitlines()).get("oom_kill", 0))
  except (OSError, ValueError): return 0

def limit_kind() -> str:
  """How a limit would be enforced here, without making a cgroup: the same test make_cgroup passes."""
  cg = own_cgroup()
  ok = cg is not None and "memory" in (cg / "cgroup.subtree_control").read_text().split() and os.access(cg, os.W_OK)
  return "cgroup" if ok else "rlimit"

@functools.cache
def python_needs_bytes() -> int:
  """What a fresh worker holds before it loads a model, as this machine's limit counts it (virtual size under
  RLIMIT_AS, RSS under a cgroup): under a limit below it, a worker could not load any model."""
  code = ("import inferbench.measure.worker, inferbench.core.memory as m; "
          "print(m.proc_status_bytes('VmSize' if m.limit_kind() == 'rlimit' else 'VmRSS'))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=files.ROOT, timeout=120)
  if out.returncode: raise RuntimeError(f"measuring a bare worker's memory failed: {out.stderr.strip()[-300:]}")
  return int(out.stdout.split()[-1])

def enter(limit: Limit):
  """Puts this process under the limit (called by the worker itself, first thing)."""
  if limit.mechanism == "cgroup": Path(limit.cgroup, "cgroup.procs").write_text(str(os.getpid()))
  else: resource.setrlimit(resource.RLIMIT_AS, (limit.bytes, limit.bytes))
