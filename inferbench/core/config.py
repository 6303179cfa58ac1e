"""The configuration record: one measured configuration, the same from the command line or an experiment file to the
worker, the log header, the CSV columns, the analysis, resume, the serving points and the fleet.

Each field has a role, declared once here:
  speed     it can change speed: part of the configuration's identity. Two logs are pooled only when every identity
            column agrees (IDENTITY: these fields plus what the log measured about what ran: versions, host, file).
  protocol  how it is measured (seed, runs, warm-up, time limits): two logs that differ only here measure the same
            configuration, so they pool; a rerun with other values is other work, so resume tells them apart.
  id        this particular run (its uuid, the cgroup enforcing its limit, the prompt's text): neither.
"""
from __future__ import annotations
import hashlib, json
from dataclasses import asdict, dataclass, field, fields
from typing import Callable
from inferbench.core import memory
from inferbench.core.formats import knobs_text
from inferbench.core.names import knob_words, name, threads_words

def _f(role: str, default=None, column: str | None = None, factory=None, unset_none: bool = False):
  md = {"role": role, "column": column, "unset_none": unset_none}
  return field(default_factory=factory, metadata=md) if factory else field(default=default, metadata=md)

def speed(default=None, column: str | None = None, factory=None, unset_none: bool = False): return _f("speed", default, column, factory, unset_none)
def protocol(default=None, factory=None, unset_none: bool = False): return _f("protocol", default, None, factory, unset_none)
def ident(default=None, factory=None): return _f("id", default, None, factory)

@dataclass(frozen=True)
class RunConfig:
  backend: str = speed(column="backend")
  size: str = speed(column="size")
  quantize: str = speed(column="quantize")
  seed: int = protocol(0)
  uuid: str = ident("")
  prompt_ids: list[int] = speed(column="n_prompt_tokens", factory=list)  # the same ids for every backend; the column is their count
  model: str | None = protocol()  # --model PATH, else the registry's file for size: resume tells files apart; the identity has its sha256
  n_tokens: int = speed(128, column="n_decode_steps")  # decode steps after the prefill (a server: tokens after the first)
  runs: int = protocol(3)        # a serving run is one request
  warmup: int = protocol(1)      # unmeasured runs first
  min_seconds: float = protocol(1.0)
  # --target-ci: measure until the decode rate's 95% interval over runs is within +-target_ci_pct% of its median, or
  # until max_runs / max_seconds (measured time) are spent (worker.stopping). None: runs and min_seconds alone
  target_ci_pct: float | None = protocol(unset_none=True)
  max_runs: int | None = protocol(unset_none=True)
  max_seconds: float | None = protocol(unset_none=True)
  threads: int = speed(1, column="threads")
  device: str = speed("cpu", column="device")
  ctx: int = speed(1024, column="ctx")
  temperature: float = speed(0.0, column="temperature")
  weights: str = speed("real", column="weights")  # or "synthetic": random weights of the size's architecture (prepare.synthetic_path)
  batch: int = speed(1, column="batch")  # sequences decoded together, each with ctx positions
  knobs: dict = speed(column="knobs", factory=dict)  # the backend's own settings (its Knobs dataclass), e.g. {"flash_attn": True}
  memory_limit_bytes: int | None = protocol()  # run under this limit (core/memory.py); an out-of-memory end is a result
  memory_cgroup: str | None = ident()          # the cgroup v2 folder that enforces it, made per run; else RLIMIT_AS
  nodes: str = speed("")          # on a Ray cluster: the labels its node must offer (cli.node_labels); the log names the host
  # serving: a load client against a server (mode endpoint) or MLC in-process
  mode: str = speed("", column="mode")
  concurrency: int | None = speed(column="concurrency")      # closed loop: requests in flight
  request_rate: float | None = speed(column="request_rate")  # open loop: Poisson arrivals per second, seeded by seed
  requests: int | None = protocol()      # None: as many as duration_s allows
  duration_s: float | None = protocol()  # send no request after this
  slo_ttft_ms: float | None = protocol()
  slo_itl_ms: float | None = protocol()
  prompt_format: str = protocol("auto")  # ids | text | auto: ids where the server takes them, else text
  ignore_eos: bool = protocol(True)
  prompt_text: str = ident("")           # the text of prompt_ids, for servers that take only text
  # serving: the prompts the requests send (serving/workload.py), as describe() spells it: "distinct", "distinct, shared
  # prefix 16", "repeated"... prompt_ids is then the reference request's, and n_prompt_tokens the workload's mean length
  workload: str | None = speed(column="workload", unset_none=True)
  workload_spec: dict = ident(factory=dict)  # the workload's parameters (Workload.to_dict), with mean_tokens, to make its prompts again

  @property
  def label(self) -> str:
    if self.mode:
      return f"{self.backend} {self.size} {self.quantize} seed={self.seed} " + (f"rate={self.request_rate:g}/s" if self.request_rate else f"concurrency={self.concurrency}")
    return (f"{self.backend} {self.size}{' (synthetic)' if self.weights == 'synthetic' else ''} {self.quantize}"
            + (f" {knobs_text(self.knobs)}" if self.knobs else "") + f" seed={self.seed} "
            f"prompt={len(self.prompt_ids)} n={self.n_tokens} T={self.temperature:g} ctx={self.ctx} B={self.batch} threads={self.threads}"
            + (f" nodes={self.nodes}" if self.nodes else ""))

  def settings(self) -> dict:
    """What the measurement depends on (its speed and protocol fields, not its id): two configurations with the same
    settings measure the same thing, so an ok log with them makes a rerun unnecessary (store/resume.py). The prompt
    is its ids' hash (the header's prompt_token_ids holds the ids). A field added later (unset_none) is left out while
    it is None, so that logs written before it existed still resume."""
    s = {f.name: getattr(self, f.name) for f in fields(self) if f.metadata["role"] != "id" and f.name != "prompt_ids"
         and not (f.metadata["unset_none"] and getattr(self, f.name) is None)}
    return {**s, "prompt_ids_sha256": hashlib.sha256(json.dumps(self.prompt_ids).encode()).hexdigest()[:16]}

  def header(self) -> dict:
    """The log header's record of the configuration: each identity column the record sets (but those the run itself
    reports: MEASURED_BY_RUN), its seed and uuid, and its settings whole (run_config, what resume compares)."""
    h = {f.metadata["column"]: getattr(self, f.name) for f in fields(self) if f.metadata["column"] and f.name not in MEASURED_BY_RUN}
    h["n_prompt_tokens"] = self.workload_spec.get("mean_tokens") or len(self.prompt_ids)
    return {**{k: v for k, v in h.items() if v not in (None, "")}, "seed": self.seed, "uuid": self.uuid,
            "run_config": json.dumps(self.settings(), sort_keys=True)}

  @property
  def limit(self) -> memory.Limit | None:
    if self.memory_limit_bytes is None: return None
    return memory.Limit(self.memory_limit_bytes, "cgroup" if self.memory_cgroup else "rlimit", self.memory_cgroup)

  @staticmethod
  def from_settings(d: dict) -> "RunConfig":
    """A record from its JSON form (asdict), as the worker receives it."""
    return RunConfig(**{k: v for k, v in d.items() if k in RunConfig.__dataclass_fields__})

  def to_json(self) -> str: return json.dumps(asdict(self))

# Chosen, but written by the run from what ran: the backend's knobs as the engine applied them (tinygrad adds its
# JIT mode), and the weights as the file says (a --model file may be synthetic).
MEASURED_BY_RUN = ("knobs", "weights")

# What the log measured about what ran, which can change speed as much as a chosen setting: the backend's version, the
# host and its device, the file's hash and type, how a server was reached.
# On a multi-GPU host, the fleet's placement too: the GPU a run had (gpu_index), so that two GPUs are compared, never pooled.
MEASURED = ("backend_version", "hostname", "device_name", "model_sha256", "model_type", "gpu_index")

# The configuration identity: every column that can change speed, in the order a label shows them, each with how a
# label spells it. The chosen ones are RunConfig's speed fields (their header columns); the rest are MEASURED.
IDENTITY: dict[str, Callable[[str], str]] = {
  "backend": name, "backend_version": lambda v: f"v{v}", "mode": str, "hostname": lambda v: f"host {v}",
  "device": str, "device_name": str, "size": str, "weights": lambda v: "synthetic" if v == "synthetic" else "",
  "model_sha256": lambda v: f"file {v[:8]}", "quantize": str, "model_type": str, "threads": threads_words,
  "ctx": lambda v: f"context {v}", "n_prompt_tokens": lambda v: f"{v}-token prompt", "n_decode_steps": lambda v: f"{v} steps",
  "temperature": lambda v: f"temperature {v}", "batch": lambda v: f"batch {v}", "concurrency": lambda v: f"concurrency {v}",
  "request_rate": lambda v: f"{v} requests/s", "knobs": knob_words, "workload": lambda v: f"prompts {v}", "gpu_index": lambda v: f"GPU {v}"}
# identity columns added after logs were written without them: left out of a configuration's id while blank, so those logs keep theirs
LATER = ("workload", "gpu_index")

_chosen = {f.metadata["column"] for f in fields(RunConfig) if f.metadata["role"] == "speed" and f.metadata["column"]}
assert set(IDENTITY) == _chosen | set(MEASURED), "every speed field's column, and only those and the measured ones, identify a configuration"
