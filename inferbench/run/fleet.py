"""Fleet runs on Ray: the configurations of an experiment (or a benchmark script) spread over the nodes of a Ray
cluster, at most one at a time per node, every raw log written into the local output folder as if it had run here.

  nodes     the alive nodes that declare the custom resource inferbench_slot (`ray start --resources
            '{"inferbench_slot": 1}'`); a node offers its Ray labels as key=value (`ray start --labels`), its host
            name, gpu and gpu_type=<Ray's accelerator type> where it has a GPU, cpu where it has none
  match     a configuration's requirement (RunConfig.nodes: --nodes or the experiment's nodes:) is the labels its node
            must all offer; one that no node meets is reported before anything runs, naming what no node offers
  run       each configuration is a Ray task holding its node's one slot (so nothing else runs there meanwhile) and
            restricted to the matching nodes by a label selector on their ids; Ray schedules it.
  gpus      on a node with G GPUs (`ray start --num-gpus G`), each GPU is a slot: a configuration that needs GPUs
            (device cuda, or auto where every matching node has one) asks Ray for its N GPUs (llama.cpp's gpus knob,
            else 1) and N/G of the node's slot, so G one-GPU configurations run there at once and a CPU one waits
            for them all. Its worker sees only those GPUs (CUDA_VISIBLE_DEVICES from ray.get_gpu_ids()), runs on
            their share of the node's cores (cores // G per GPU, os.sched_setaffinity) and has NCCL_NVLS_ENABLE=0;
            the log header names them (metadata.collect_placement). A GPU that fails fails its configuration. The task runs
            local.run_limited, the local runner's own path: the same worker process writes the log into a temporary
            folder on the node, and the task returns its bytes, which are written here under the name the node gave it
  lose      a configuration whose node died (or whose Ray worker did) ends `failed: node lost`, and the rest go on;
            --retries N submits it again, to a matching node it has not tried where there is one
  stop      Ctrl-C (or SIGTERM) cancels every task: the running ones stop their workers, and their logs here end as
            interrupted; the ones still waiting leave no log
"""
from __future__ import annotations
import dataclasses, os, signal, socket, sys, tempfile, time
from dataclasses import dataclass
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator
import ray
import ray.exceptions
from inferbench.run import local
from inferbench.core import files, metadata, proc
from inferbench.core.config import RunConfig

SLOT = "inferbench_slot"
# Ray gives a task's worker process OMP_NUM_THREADS=1 when the task asks for no CPU (this one asks for the slot only)
# and hides the GPUs from a task that asks for none: the benchmark's worker must see the node as a local run sees its
# machine, so the node's own OMP_NUM_THREADS travels under another name and the GPUs stay visible. Each node runs
# its own checkout of this repository, at the same path as here (as Ray's own rule for the driver's folder assumes).
# NVLink multicast stays off in every environment started on a node (it hangs NCCL on the GPU hosts this runs on).
RUNTIME_ENV = {"env_vars": {"INFERBENCH_NODE_OMP_NUM_THREADS": "${OMP_NUM_THREADS}", "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",
                            "PYTHONPATH": str(files.ROOT), "NCCL_NVLS_ENABLE": "0"}}

class FleetError(ValueError):
  """A cluster that cannot run the configurations: the message says why and what to do."""

@dataclass(frozen=True)
class Node:
  id: str
  host: str
  labels: frozenset[str]
  gpus: int = 0

  @property
  def name(self) -> str: return f"{self.host} (node {self.id[:8]})"

def node_labels(n: dict) -> frozenset[str]:
  """What a node of ray.nodes() offers to a requirement."""
  own = {f"{k}={v}" for k, v in n["Labels"].items() if not k.startswith("ray.io/")}
  accelerator = n["Labels"].get("ray.io/accelerator-type") or next(
    (r.removeprefix("accelerator_type:") for r in n["Resources"] if r.startswith("accelerator_type:")), None)
  gpu = n["Resources"].get("GPU", 0) > 0
  return frozenset({*own, n["NodeManagerHostname"], "gpu" if gpu else "cpu", *([f"gpu_type={accelerator}"] if accelerator else [])})

def nodes() -> list[Node]:
  """The cluster's alive nodes that run configurations (those with a slot)."""
  return [Node(n["NodeID"], n["NodeManagerHostname"], node_labels(n), int(n["Resources"].get("GPU", 0)))
          for n in ray.nodes() if n["Alive"] and n["Resources"].get(SLOT)]

def required(cfg: RunConfig) -> frozenset[str]: return frozenset(cfg.nodes.split(",")) if cfg.nodes else frozenset()

def gpus_needed(cfg: RunConfig, match: list[Node]) -> int:
  """The GPUs a configuration takes on its node: none for a CPU run (or auto where some matching node has no GPU)."""
  if cfg.device == "cuda" or (cfg.device == "auto" and match and all(n.gpus for n in match)): return int(cfg.knobs.get("gpus", 1))
  return 0

def hosts(cfg: RunConfig, fleet: list[Node]) -> list[Node]:
  """The nodes that can run a configuration: those offering its labels and, if it needs GPUs, that many."""
  match = [n for n in fleet if required(cfg) <= n.labels]
  return [n for n in match if n.gpus >= gpus] if (gpus := gpus_needed(cfg, match)) else match

def why_not(cfg: RunConfig, fleet: list[Node]) -> str:
  match = [n for n in fleet if required(cfg) <= n.labels]
  if not match: return unmet(required(cfg), fleet)
  return f"it needs {gpus_needed(cfg, match)} GPUs on one node, and the matching nodes have at most {max(n.gpus for n in match)}"

def unmet(need: frozenset[str], fleet: list[Node]) -> str:
  """Why no node of the fleet meets a requirement: the labels none offers, or that none offers them together."""
  offered = frozenset().union(*(n.labels for n in fleet))
  missing = sorted(need - offered)
  return (f"no node offers {', '.join(missing)}" if missing else f"no single node offers {', '.join(sorted(need))} together") + \
         f" (the nodes offer: {', '.join(sorted(offered))})"

@contextmanager
def connect(address: str) -> Iterator[list[Node]]:
  """Connected to the cluster at address (auto: the one `ray start` runs on this machine) while inside; yields its nodes."""
  os.environ.update({k: v for k, v in RUNTIME_ENV["env_vars"].items() if k.startswith("RAY_")})  # the driver's Ray reads it too
  try: ray.init(address=address, runtime_env=RUNTIME_ENV, logging_level="WARNING")
  except (ConnectionError, RuntimeError, ValueError) as e:
    raise FleetError(f"--cluster {address}: cannot connect ({str(e).splitlines()[0]}): start one with "
                     f"`ray start --head --resources '{{\"{SLOT}\": 1}}'`, or pass the address of a running head (HEAD:6379, ray://HEAD:10001)") from None
  try:
    if not (fleet := nodes()):
      raise FleetError(f"--cluster {address}: no node declares the {SLOT} resource: start each node with "
                       f"`ray start ... --resources '{{\"{SLOT}\": 1}}'` (README: Fleet runs on Ray)")
    yield fleet
  finally: ray.shutdown()

def schedulable(configs: list[RunConfig], fleet: list[Node]) -> tuple[list[RunConfig], list[dict]]:
  """The configurations some node can run, and one entry per other: its label and why not. Raises FleetError when none can run."""
  ok = [c for c in configs if hosts(c, fleet)]
  blocked = [{"cfg": c, "label": c.label, "log": None, "status": f"unschedulable: {why_not(c, fleet)}"} for c in configs if c not in ok]
  for b in blocked: print(f"{b['status']}: {b['label']}", file=sys.stderr, flush=True)
  if configs and not ok: raise FleetError(f"none of the {len(configs)} configuration(s) can run on this cluster: {blocked[0]['status']}")
  return ok, blocked

def on_node(cfg: RunConfig, timeout: float | None):
  """The Ray task, a generator: says where it runs, then runs the configuration as the local runner does, in a
  temporary folder, and returns the log (its name, status, bytes) with the node's wall-clock start and end."""
  os.environ.pop("OMP_NUM_THREADS", None)
  if threads := os.environ.get("INFERBENCH_NODE_OMP_NUM_THREADS"): os.environ["OMP_NUM_THREADS"] = threads
  node_id = ray.get_runtime_context().get_node_id()
  if gpu_ids := ray.get_gpu_ids(): pin(sorted(int(i) for i in gpu_ids), node_id)
  yield socket.gethostname(), node_id
  if cfg.device == "auto": cfg = dataclasses.replace(cfg, device="cuda" if metadata.cuda_available() else "cpu")
  with tempfile.TemporaryDirectory(prefix="inferbench-fleet-") as folder:
    path, t0 = Path(folder) / local.log_name(cfg), time.time()
    status = local.run_limited(cfg, path, timeout)
    yield path.name, status, path.read_bytes(), t0, time.time()

def pin(gpu_ids: list[int], node_id: str):
  """This task's worker on its GPUs alone and on their share of the node's cores: with G GPUs, GPU i owns the i-th
  cores // G of them, so configurations on sibling GPUs never share a core."""
  [gpus] = [int(n["Resources"]["GPU"]) for n in ray.nodes() if n["NodeID"] == node_id]
  cores = sorted(os.sched_getaffinity(0))
  per = max(len(cores) // gpus, 1)
  own = {c for i in gpu_ids for c in cores[i * per:(i + 1) * per]} or set(cores)  # more GPUs than cores: they share
  os.sched_setaffinity(0, own)  # the worker process inherits it; a GPU task's Ray worker exits after it (max_calls=1, Ray's default)
  os.environ.update({"CUDA_VISIBLE_DEVICES": ",".join(map(str, gpu_ids)), metadata.GPU_INDEX: ",".join(map(str, gpu_ids)),
                     "OMP_NUM_THREADS": str(len(own))})

def lost(e: ray.exceptions.RayError, node_alive: bool) -> str:
  """A task's own failure (its benchmark's failures are in the log it returns) as a log status."""
  if isinstance(e, ray.exceptions.OutOfMemoryError): return "failed: out of memory: Ray's memory monitor killed the task"
  if isinstance(e, (ray.exceptions.NodeDiedError, ray.exceptions.LocalRayletDiedError)) or not node_alive: return LOST
  return f"failed: the Ray task died: {type(e).__name__}: {(str(e).splitlines() or [''])[0]}"

LOST = "failed: node lost"
WAIT_S = 5.0  # how often the driver looks for tasks whose every allowed node has gone

@dataclass
class Job:
  i: int
  cfg: RunConfig
  allowed: frozenset[str] = frozenset()                       # the node ids its current task may run on
  tried: list[Node] = dataclasses.field(default_factory=list)  # where it ran, the last one current
  t0: float = 0.0

def run_all(configs: list[RunConfig], output_dir: Path, fleet: list[Node], retries: int = 0, timeout: float | None = None,
            finished: Callable[[RunConfig, dict], None] = lambda cfg, d: None) -> list[dict]:
  """Runs each configuration as a task on a matching node, writes each log into output_dir as it comes home, with a
  progress line per configuration naming its node, then prints the summary table per host. Returns each
  configuration's log, status, host and node, with the node's start and end times (ISO)."""
  output_dir.mkdir(parents=True, exist_ok=True)
  task = ray.remote(num_cpus=0, max_retries=0)(on_node)  # Ray's retries would not say why
  known = {n.id: n for n in fleet}
  pending: dict = {}
  done: list[dict] = []
  say = lambda job, msg: print(f"[{job.i}/{len(configs)}] {job.cfg.label}{msg}", file=sys.stderr, flush=True)

  def submit(job: Job, alive: list[Node]) -> bool:
    """Submits the job to the matching nodes it has not tried (all matching ones if it tried them all); False if none is alive."""
    match = hosts(job.cfg, alive)
    gpus = gpus_needed(job.cfg, match)
    untried = [n for n in match if n.id not in {t.id for t in job.tried}]
    if not match: return False
    job.allowed = frozenset(n.id for n in untried or match)
    # N of a node's G GPUs hold N/G of its slot (the fewest G among the allowed nodes: never more at once than fit)
    share = {"num_gpus": gpus, "resources": {SLOT: gpus / min(n.gpus for n in match if n.id in job.allowed)}} if gpus else {"resources": {SLOT: 1}}
    pending[task.options(**share, label_selector={"ray.io/node-id": f"in({','.join(sorted(job.allowed))})"}).remote(job.cfg, timeout)] = job
    return True

  def end(job: Job, status: str, name: str | None = None, data: bytes | None = None, times: tuple[float, float] | None = None):
    node = job.tried[-1] if job.tried else None
    path = output_dir / (name or local.log_name(job.cfg, node.host if node else None))
    if data is not None: files.atomic_write(path, data)
    else: local.end_log(job.cfg, path, status)  # a log the node could not send: its header says what it was
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}+00:00"
    d = {"label": job.cfg.label, "log": path, "status": status, "host": node.host if node else None, "node": node.id if node else None,
         **({"started_at": iso(times[0]), "ended_at": iso(times[1])} if times else {})}
    say(job, f"{f' on {node.name}' if node else ''}: {status}{f' in {time.monotonic() - job.t0:.1f} s' if node else ''} -> {path}")
    done.append(d)
    finished(job.cfg, d)

  def fail(job: Job, status: str):
    """A task that ended without its log: run it again elsewhere if it was lost and retries are left, else end its log."""
    if status == LOST and len(job.tried) <= retries and submit(job, alive := nodes()):  # one that never started is no retry
      known.update({n.id: n for n in alive})
      say(job, f": node lost ({job.tried[-1].name}), running it again (retry {len(job.tried)} of {retries})" if job.tried else
               ": its node was lost before it started, submitted again")
    else: end(job, status)

  for i, cfg in enumerate(configs, 1): submit(Job(i, cfg), fleet)
  try:
    while pending:
      ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_S)
      if not ready:  # a waiting task whose every allowed node is gone would wait forever
        alive = {n.id for n in nodes()}
        for gen, job in [(g, j) for g, j in pending.items() if not j.tried and not j.allowed & alive]:
          ray.cancel(gen)
          del pending[gen]
          fail(job, LOST)
        continue
      job = pending[gen := ready[0]]
      try: item = ray.get(next(gen))
      except StopIteration:
        del pending[gen]
        continue
      except ray.exceptions.RayError as e:
        del pending[gen]
        fail(job, lost(e, not job.tried or job.tried[-1].id in {n.id for n in nodes()}))
        continue
      if len(item) == 2:  # it started: where
        job.tried.append(known.get(item[1]) or Node(item[1], item[0], frozenset()))
        job.t0 = time.monotonic()
        say(job, f": running on {job.tried[-1].name}")
      else:
        name, status, data, t0, t1 = item
        end(job, status, name, data, (t0, t1))
  except BaseException as e:  # Ctrl-C, or SIGTERM (proc.Stopped): every task stops; the running ones' logs say why
    for gen in pending: ray.cancel(gen)
    ray.wait(list(pending), num_returns=len(pending), timeout=proc.GRACE_S + 2.0)  # their workers stop and end their own logs
    for job in pending.values():
      if job.tried: end(job, f"failed: {proc.interrupted(e)}")
    raise
  local.summarize(done, by_host=True)
  return done

def main(configs: list[RunConfig], output_dir: Path, address: str, retries: int, timeout: float | None) -> int:
  """A benchmark script's --cluster run: the configurations on the cluster, logs into output_dir. Returns an exit code."""
  try:
    with connect(address) as fleet:
      ok, blocked = schedulable(configs, fleet)
      with proc.stop_on(signal.SIGTERM, signal.SIGHUP):
        done = run_all(ok, output_dir, fleet, retries, timeout)
  except FleetError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except (KeyboardInterrupt, proc.Stopped) as e:
    print(f"stopped: {proc.interrupted(e)}", file=sys.stderr)
    return proc.exit_code(e)
  return 0 if not blocked and all(d["status"] == "ok" for d in done) else 1
