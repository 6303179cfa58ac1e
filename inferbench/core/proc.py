"""Child processes a timer can stop whatever they do, and the reason one ended.

A child starts in its own session, so stopping it signals its whole process group (its own children too), and it
is signalled when the thread that started it dies (Linux's parent-death signal), so a killed parent leaves no orphan
running. Stopping is SIGTERM, then SIGKILL GRACE_S later: a stopped (SIGSTOP) or hung child goes within GRACE_S.
"""
from __future__ import annotations
import ctypes, os, re, signal, socket, subprocess, sys, threading, time, urllib.error, urllib.request
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

GRACE_S = 1.0  # SIGTERM -> SIGKILL; with the wait's polling, a timeout holds within 2 s

class Stopped(BaseException):
  """A stop signal (SIGTERM, SIGHUP) turned into an exception, so cleanup runs as for Ctrl-C and says which signal."""
  def __init__(self, sig: int):
    self.sig = signal.Signals(sig)
    super().__init__(f"stopped by {self.sig.name}")

def _raise_stopped(sig: int, _frame):
  # once is enough: the parent-death signal comes again as each thread of a dying parent exits, and a second
  # Stopped would cut short the cleanup the first one started
  signal.signal(sig, signal.SIG_IGN)
  raise Stopped(sig)

@contextmanager
def stop_on(*sigs: int) -> Iterator[None]:
  """Inside, each signal raises Stopped in the main thread (instead of ending the process with no cleanup)."""
  before = {s: signal.signal(s, _raise_stopped) for s in sigs}
  try: yield
  finally:
    for s, handler in before.items(): signal.signal(s, handler)

def exit_code(e: BaseException) -> int:
  """A shell's exit code for a process ended by Ctrl-C or a stop signal: 128 + the signal."""
  return 128 + (e.sig if isinstance(e, Stopped) else signal.SIGINT)

def interrupted(e: BaseException) -> str:
  """Why a wait was cut short: only SIGINT is 'interrupted'."""
  return "interrupted (Ctrl-C)" if isinstance(e, KeyboardInterrupt) else str(e) if isinstance(e, Stopped) else f"{type(e).__name__}: {e}"

def die_with_parent(sig: int = signal.SIGTERM):
  """In the child, before exec: get `sig` when the thread that started it dies, even by SIGKILL (Linux)."""
  try: ctypes.CDLL(None).prctl(1, int(sig))  # PR_SET_PDEATHSIG
  except (OSError, AttributeError): pass

def start(cmd: list[str], death_signal: int = signal.SIGTERM, **popen) -> subprocess.Popen:
  """Starts cmd in its own session (stopped as one process group), signalled with death_signal if this process dies."""
  return subprocess.Popen(cmd, start_new_session=True, preexec_fn=lambda: die_with_parent(death_signal), **popen)

def relay(stream, tail: deque[str], keep: Callable[[str], bool] = lambda line: True) -> threading.Thread:
  """Passes a child's output through to our stderr on a thread, keeping the last lines `keep` accepts in `tail`
  (to explain a crash). Join it once the child is gone: its pipe has closed then, unless a grandchild left the group."""
  def run():
    for line in stream:
      try: sys.stderr.write(line)
      except (OSError, ValueError): pass  # our stderr is gone (a closed pipe): keep draining, or the child blocks on a full pipe
      if keep(line): tail.append(line.strip())
  t = threading.Thread(target=run, daemon=True)
  t.start()
  return t

def _exited(p: subprocess.Popen, timeout_s: float | None) -> bool:
  """Waits until p has exited, without reaping it: its process group id stays reserved, so the group can still be
  signalled safely."""
  deadline = None if timeout_s is None else time.monotonic() + timeout_s
  while p.returncode is None and os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
    if deadline is not None and time.monotonic() >= deadline: return False
    time.sleep(0.02)
  return True

def _killpg(p: subprocess.Popen, sig: int):
  try: os.killpg(p.pid, sig)
  except ProcessLookupError: pass

def stop(p: subprocess.Popen, grace_s: float = GRACE_S, first: int = signal.SIGTERM) -> int:
  """`first` (SIGTERM) to p's process group, SIGKILL grace_s later if p is still there; then SIGKILL to whatever is
  left of the group (a grandchild that ignored the first signal). Returns p's exit code."""
  if p.returncode is None:
    _killpg(p, first)
    if not _exited(p, grace_s): _killpg(p, signal.SIGKILL)
    _exited(p, None)
    _killpg(p, signal.SIGKILL)
  return p.wait()

def wait(p: subprocess.Popen, timeout_s: float | None, grace_s: float = GRACE_S) -> int | None:
  """p's exit code, or None if it ran past timeout_s (counted from now) and was stopped."""
  if _exited(p, timeout_s): return p.wait()
  stop(p, grace_s)
  return None

# The kernel counts the processes its OOM killer ended: per memory cgroup (v2 memory.events, v1 memory.oom_control;
# the worker shares the runner's cgroup), or machine-wide in /proc/vmstat where no cgroup file can be read.
def _cgroup_counters() -> list[Path]:
  try: lines = Path("/proc/self/cgroup").read_text().splitlines()
  except OSError: return []
  found = []
  for line in lines:
    _, controllers, rel = line.split(":", 2)
    name = "memory.events" if controllers == "" else "memory.oom_control" if "memory" in controllers.split(",") else None
    base = Path("/sys/fs/cgroup") if controllers == "" else Path("/sys/fs/cgroup/memory")
    if name: found += [f for f in (base / rel.lstrip("/") / name, base / name) if f.is_file()][:1]
  return found

def oom_kills(files: list[Path] | None = None) -> dict[str, int]:
  """The kernel's OOM-kill counters: {file: count}."""
  files = _cgroup_counters() if files is None else files
  out = {}
  for f in files or [Path("/proc/vmstat")]:
    try: m = re.search(r"^oom_kill (\d+)$", Path(f).read_text(), re.M)
    except OSError: continue
    if m: out[str(f)] = int(m.group(1))
  return out

def exit_reason(who: str, rc: int, oom_before: dict[str, int]) -> str:
  """Why the child `who` ended with rc, given oom_kills() from before it started: 'out of memory' only when it was
  killed by SIGKILL and a kernel OOM-kill counter rose meanwhile."""
  if rc >= 0: return f"{who} exited with code {rc}"
  after = oom_kills(list(map(Path, oom_before)))
  rose = [f"{f} oom_kill {n} -> {after[f]}" for f, n in oom_before.items() if after.get(f, n) > n]
  if rc == -signal.SIGKILL and rose: return f"out of memory: killed by the kernel's OOM killer ({', '.join(rose)})"
  try: return f"killed by {signal.Signals(-rc).name}"
  except ValueError: return f"killed by signal {-rc}"
def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]

@dataclass(frozen=True)
class Server:
  url: str                # its OpenAI-compatible API base, http://127.0.0.1:PORT/v1
  proc: subprocess.Popen

@contextmanager
def launch(cmd: list[str], log_path: Path, ready_s: float = 120.0) -> Iterator[Server]:
  """Starts a server command (`python -m inferbench.serving.server`, `python -m llama_cpp.server`, ...) on a free
  127.0.0.1 port, its output to log_path, waits until /v1/models answers (any HTTP status: 401 without the key is
  ready too), and stops its whole process group on the way out, whatever happened inside. Raises RuntimeError, with
  the log's last line, when it exits or is not ready in time."""
  port = free_port()
  log_path.parent.mkdir(parents=True, exist_ok=True)
  with open(log_path, "w") as log:
    p = start([*cmd, "--host", "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
  url, what = f"http://127.0.0.1:{port}/v1", " ".join(cmd[1:3] if cmd[1:2] == ["-m"] else cmd[:1])
  try:
    deadline = time.monotonic() + ready_s
    while True:
      if p.poll() is not None:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"{what} exited with code {p.returncode} before it was ready: {tail[0]} (log: {log_path})")
      if time.monotonic() > deadline: raise RuntimeError(f"{what} not ready after {ready_s:g} s (log: {log_path})")
      try:
        with urllib.request.urlopen(f"{url}/models", timeout=2): break
      except urllib.error.HTTPError: break
      except OSError: time.sleep(0.2)
    yield Server(url, p)
  finally: stop(p)
