"""Timeouts and stop signals, on real workers of the tiny model: a timer stops a silent (SIGSTOPped) worker or sweep
child within 2 s of --timeout whatever it prints, and every log ends with a status that says what happened."""
import os, signal, subprocess, sys, threading, time
from pathlib import Path
import pytest
from inferbench.core import proc
from inferbench.store import rawlog
from inferbench.models import prepare
from inferbench.run import local, sweep
from inferbench.core.config import RunConfig

ROOT = Path(__file__).resolve().parent.parent
HOLDS_S = 2.0       # every timeout holds within this of its value
FOREVER = 100_000   # measured runs: the worker never finishes by itself

def pids(*marks: str) -> list[int]:
  """Processes whose command line holds every mark."""
  found = []
  for pid in os.listdir("/proc"):
    try: cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError: continue
    if pid.isdigit() and all(m.encode() in cmd for m in marks): found.append(int(pid))
  return found

def decoding(folder: Path) -> bool:
  return any('"phase": "decode"' in p.read_text(errors="replace") for p in folder.glob("*.txt"))

def when(ready, then, limit_s: float = 120.0) -> threading.Thread:
  """Calls then() on a thread as soon as ready() is true."""
  def watch():
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and not ready(): time.sleep(0.02)
    then()
  t = threading.Thread(target=watch, daemon=True)
  t.start()
  return t

def status_of(folder: Path, limit_s: float = 10.0) -> str:
  """The status the only log in folder ends with, once it has one."""
  (log,) = folder.glob("*.txt")
  deadline = time.monotonic() + limit_s
  while not (last := log.read_text(errors="replace").splitlines()[-1]).startswith("status: ") and time.monotonic() < deadline:
    time.sleep(0.05)
  return last.removeprefix("status: ")

def gone(*marks: str, limit_s: float = 10.0) -> bool:
  """True once no process's command line holds every mark (a stopped process may take a moment to exit)."""
  deadline = time.monotonic() + limit_s
  while pids(*marks) and time.monotonic() < deadline: time.sleep(0.05)
  return not pids(*marks)

def stop_all(*marks: str, sig: int = signal.SIGSTOP) -> list[int]:
  found = pids(*marks)
  for pid in found: os.kill(pid, sig)
  return found

def test_silent_worker_is_stopped_by_the_timeout(tmp_path, tiny_model):
  """The worker is SIGSTOPped mid-run: it prints nothing more and ignores SIGTERM, so only the timer and SIGKILL end it."""
  timeout_s = 30.0
  cfg = RunConfig(backend="llamacpp", size="tiny", quantize="default", seed=1, uuid="silent01", model=str(tiny_model),
                  prompt_ids=prepare.prompt_ids(tiny_model, "Hello", None), n_tokens=200, runs=FOREVER, warmup=0, min_seconds=0,
                  threads=1, ctx=256)
  log = tmp_path / "worker.txt"
  stopped = []
  when(lambda: decoding(tmp_path), lambda: stopped.extend(stop_all("inferbench.measure.worker", str(log))))
  t0 = time.monotonic()
  status = local.run_one(cfg, log, timeout_s)
  overshoot = time.monotonic() - t0 - timeout_s
  print(f"benchmark --timeout {timeout_s:g}: stopped worker ended {overshoot:+.2f} s after it")
  assert stopped, "the worker never decoded before the timeout: the test proved nothing"
  assert status == f"failed: timed out after {timeout_s:g} s" and 0 <= overshoot <= HOLDS_S
  assert rawlog.parse(log).status == status and rawlog.parse(log).steps
  assert gone("inferbench.measure.worker", str(log))

def job(tmp_path: Path, model: Path, timeout_s: float) -> sweep.Job:
  return sweep.Job(quant="F16", size="tiny", model=str(model), source_type="F16", backends=["llamacpp"], journal=str(tmp_path / "j"),
                   out_dir=str(tmp_path / "out"), seed=1, n_tokens=200, runs=FOREVER, warmup=0, min_seconds=0, threads=1, ctx=256,
                   prompt="Hello", quality_tokens=128, quality_ctx=64, task_examples=0, task_threads=1,
                   timeout=timeout_s, force=True, run_id="silent")

def test_silent_sweep_child_is_stopped_by_the_timeout(tmp_path, tiny_model):
  """The sweep's child is SIGSTOPped while its worker runs: the parent's timer kills it (SIGTERM is held while it is
  stopped, then SIGKILL), and the orphaned worker, told by its parent-death signal, ends its own log."""
  timeout_s = 40.0
  out = tmp_path / "out"
  stopped = []
  when(lambda: out.is_dir() and decoding(out), lambda: stopped.extend(stop_all("inferbench.run.sweep", str(tmp_path))))
  t0 = time.monotonic()
  why = sweep.child(job(tmp_path, tiny_model, timeout_s), timeout_s)
  overshoot = time.monotonic() - t0 - timeout_s
  print(f"sweep --timeout {timeout_s:g}: stopped child ended {overshoot:+.2f} s after it")
  assert stopped, "the child's worker never decoded before the timeout: the test proved nothing"
  assert why == f"timed out after {timeout_s:g} s" and 0 <= overshoot <= HOLDS_S
  assert status_of(out) == "failed: stopped by SIGHUP: the runner that started this worker ended"
  assert gone("inferbench", str(tmp_path))

@pytest.mark.parametrize("sig, status, rc", [
  (signal.SIGINT, "failed: interrupted (Ctrl-C)", 130),
  (signal.SIGTERM, "failed: stopped by SIGTERM", 143),
  (signal.SIGKILL, "failed: stopped by SIGHUP: the runner that started this worker ended", -9),
])
def test_a_stopped_benchmark_says_how(tmp_path, tiny_model, sig, status, rc):
  """Ctrl-C is 'interrupted'; a stop signal names itself; a runner killed outright leaves its worker to end the log."""
  cmd = [sys.executable, "llamacpp_benchmark.py", "--model", str(tiny_model), "--size", "tiny", "-o", str(tmp_path), "--n-tokens", "200",
         "--ctx", "256", "--runs", str(FOREVER), "--warmup", "0", "--threads", "1"]
  # SIGINT as at a terminal: a suite started in the background (`./test.sh &`) has it ignored, and so would the benchmark
  bench = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
  when(lambda: decoding(tmp_path), lambda: bench.send_signal(sig))
  _, err = bench.communicate(timeout=120)
  assert bench.returncode == rc and "Traceback" not in err
  assert status_of(tmp_path) == status
  assert gone("inferbench.measure.worker", str(tmp_path))

def test_a_killed_sweep_is_not_called_interrupted(tmp_path, tiny_model):
  """SIGKILL to the sweep: its child gets SIGTERM (parent-death signal), stops its worker and says so."""
  cmd = [sys.executable, "llamacpp_sweep.py", "--model", str(tiny_model), "--size", "tiny", "--quantize", "F16", "-o", str(tmp_path / "out"),
         "--plot", str(tmp_path / "p.png"), "--n-tokens", "200", "--ctx", "256", "--runs", str(FOREVER), "--warmup", "0", "--threads", "1",
         "--task-examples", "0", "--quality-tokens", "128", "--quality-ctx", "64"]
  sweeper = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.DEVNULL)
  when(lambda: (tmp_path / "out").is_dir() and decoding(tmp_path / "out"), sweeper.kill)
  assert sweeper.wait(timeout=120) == -signal.SIGKILL
  assert status_of(tmp_path / "out") == "failed: stopped by SIGTERM"
  assert gone("inferbench", str(tmp_path))

def test_out_of_memory_only_when_the_kernel_counted_it(tmp_path):
  """The kernel's OOM-kill counter is what cannot be triggered safely on a shared machine: a file stands in for it."""
  events = tmp_path / "memory.events"
  events.write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
  before = proc.oom_kills([events])
  assert before == {str(events): 1}
  assert proc.exit_reason("worker", -signal.SIGKILL, before) == "killed by SIGKILL"  # a manual kill -9
  assert proc.exit_reason("worker", 3, before) == "worker exited with code 3"
  events.write_text("low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\n")
  assert proc.exit_reason("worker", -signal.SIGKILL, before).startswith(f"out of memory: killed by the kernel's OOM killer ({events} oom_kill 1 -> 2")
  assert proc.exit_reason("worker", -signal.SIGTERM, before) == "killed by SIGTERM"
  assert all(isinstance(n, int) for n in proc.oom_kills().values())  # this machine's own counters read

def test_end_never_appends_after_a_status(tmp_path):
  """A log the parser rejects (here: U+2028 in a step's text, which str.splitlines splits on) but that ends with a
  status has ended: the runner must not add 'worker exited with code 0' after 'status: ok'."""
  cfg = RunConfig(backend="llamacpp", size="tiny", quantize="default", seed=1, uuid="end00001")
  log = tmp_path / "ended.txt"
  w = rawlog.LogWriter(log)
  w.header({"backend": "llamacpp"})
  w.step(run=0, phase="prefill", step=0, position=0, n_tokens=3, token_id=1, enqueue_latency_ms=1.0, total_latency_ms=2.0, text="a\u2028b")
  w.close("ok")
  before = log.read_bytes()
  assert local.end_log(cfg, log, "failed: worker exited with code 0") == "ok"
  assert log.read_bytes() == before

def test_end_drops_a_torn_line_and_ends_the_log(tmp_path):
  cfg = RunConfig(backend="llamacpp", size="tiny", quantize="default", seed=1, uuid="end00002")
  log = tmp_path / "torn.txt"
  w = rawlog.LogWriter(log)
  w.header({"backend": "llamacpp", "uuid": "end00002", "n_prompt_tokens": 3, "n_decode_steps": 4})  # what a worker writes first
  w.step(run=0, phase="prefill", step=0, position=0, n_tokens=3, token_id=1, enqueue_latency_ms=1.0, total_latency_ms=2.0, text="ab")
  w.f.write('step {"run": 0, "phase": "dec')  # killed mid-line
  w.f.close()
  assert local.end_log(cfg, log, "failed: timed out after 5 s") == "failed: timed out after 5 s"
  parsed = rawlog.parse(log)
  assert parsed.status == "failed: timed out after 5 s" and len(parsed.steps) == 1
  log.write_text("# inferbench ra")  # killed before the first line was whole
  assert local.end_log(cfg, log, "failed: killed by SIGKILL") == "failed: killed by SIGKILL"
  assert rawlog.parse(log).header["uuid"] == "end00002"
