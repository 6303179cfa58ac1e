"""The configuration record: one measured configuration, from the command line or an experiment file to the worker,
the log header and resume."""
from __future__ import annotations
import hashlib, json
from dataclasses import asdict, dataclass, field
from inferbench.core import memory

@dataclass(frozen=True)
class RunConfig:
  backend: str
  size: str
  quantize: str
  seed: int
  uuid: str
  prompt_ids: list[int] = field(default_factory=list)
  model: str | None = None  # --model PATH, else the registry's source for size
  n_tokens: int = 128       # decode steps after the prefill
  runs: int = 3
  warmup: int = 1
  min_seconds: float = 1.0
  threads: int = 1
  device: str = "cpu"
  ctx: int = 1024
  temperature: float = 0.0
  weights: str = "real"     # or "synthetic": random weights of the size's architecture (models.synthetic_path)
  beam: int = 0
  flash_attn: bool = False
  batch: int = 1            # sequences decoded together, each with ctx positions
  memory_limit_bytes: int | None = None  # run under this limit (memory.py); an out-of-memory end is a result
  memory_cgroup: str | None = None       # the cgroup v2 folder that enforces it, made per run; else RLIMIT_AS
  pipeline: bool = True
  dtype: str = ""
  nodes: str = ""           # on a Ray cluster: the labels its node must offer (cli.node_labels), part of what it measures

  @property
  def label(self) -> str:
    return (f"{self.backend} {self.size}{' (synthetic)' if self.weights == 'synthetic' else ''} {self.quantize} seed={self.seed} "
            f"prompt={len(self.prompt_ids)} n={self.n_tokens} T={self.temperature:g} ctx={self.ctx} B={self.batch} threads={self.threads}"
            + (f" nodes={self.nodes}" if self.nodes else ""))

  def settings(self) -> dict:
    """What the measurement depends on (not its id, nor where its limit is enforced): two configurations with the
    same settings measure the same thing, so a log with them and status ok makes a rerun unnecessary. The prompt is
    its ids' hash (the header's prompt_token_ids holds the ids)."""
    # no node requirement is no key at all, so the logs of earlier versions still resume
    s = {k: v for k, v in asdict(self).items() if k not in ("uuid", "memory_cgroup", "prompt_ids") and (k != "nodes" or v)}
    return {**s, "prompt_ids_sha256": hashlib.sha256(json.dumps(self.prompt_ids).encode()).hexdigest()[:16]}

  @property
  def limit(self) -> memory.Limit | None:
    if self.memory_limit_bytes is None: return None
    return memory.Limit(self.memory_limit_bytes, "cgroup" if self.memory_cgroup else "rlimit", self.memory_cgroup)
