"""Experiments as files: one YAML names what to measure; every combination of its lists is a configuration.

  load      PyYAML, then a pydantic schema: an unknown key, a wrong type or a bad value is an error naming the key,
            and nothing runs
  plan      bench.plan per backend and model, exactly as the benchmark scripts expand their flags
  resume    a configuration whose settings equal those of an ok log in the output folder (its header's run_config)
            is skipped, so a killed experiment reruns to finish where it stopped
  run       local.run_all, each configuration in its own worker (local.run_limited: under --memory-limit too); with
            --cluster, fleet.run_all: the same, each on a node of a Ray cluster (nodes: the labels it needs there)
  record    session_{start}.json in the output folder, rewritten after every configuration: start, end, duration,
            the file itself, the counts planned / ok / failed / skipped, the git commit, each configuration's log
"""
from __future__ import annotations
import importlib.util
if importlib.util.find_spec("llama_cpp"): import llama_cpp.llama_cpp  # noqa: F401  libllama before numpy: see backends/llamacpp.py
import argparse, datetime, json, math, os, socket, statistics, sys, time
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Literal
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, create_model, field_validator, model_validator

from inferbench import backends
from inferbench.backends import STEP as STEP_BACKENDS
from inferbench.backends.base import NoKnobs, knob_values
from inferbench.core import cli, memory, metadata, files, formats, registry
from inferbench.run import bench, local, serving_experiment
from inferbench.models import synthetic
from inferbench.report import pipeline
from inferbench.store import resume
from inferbench.store.rawlog import LogError, parse
from inferbench.run.serving_experiment import ServingExperiment
from inferbench.core.config import RunConfig
from inferbench.core.formats import knobs_text

Positive, NonNegative = Field(gt=0), Field(ge=0)
def knob_keys() -> dict[str, dict]:
  """Every step backend's own settings (its Knobs), as its flags spell them: keys of an experiment file beside the
  grid's. Two backends' knobs of one name (MLX's and PyTorch's dtype) are one key taking either's values."""
  keys: dict[str, dict] = {}
  for b in STEP_BACKENDS:
    for k in knob_values(getattr(backends.get(b), "Knobs", NoKnobs)):
      have = keys.setdefault(k["name"], {**k, "choices": (), "backends": []})
      have["choices"], have["backends"] = tuple(dict.fromkeys([*have["choices"], *k["choices"]])), [*have["backends"], b]
  return keys

KNOBS = knob_keys()
LISTS = ("backends", "sizes", "models", "weights", "quantize", "prompts", "prompt_tokens", "n_tokens", "temperature", "ctx",
         "threads", "batch", "seed", "nodes", *KNOBS)

class Grid(BaseModel):
  """The keys an experiment file may hold, but for the backends' own (Experiment adds them). A list key also takes one
  plain value."""
  model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
  name: str = "experiment"
  backends: list[Literal[STEP_BACKENDS]] = Field(min_length=1)  # the step-timed backends (serving files have kind: serving)
  sizes: list[str] = [registry.DEFAULT_SIZE]    # registry sizes, or labels of `models`
  models: list[str] = []                        # local GGUF files, instead of registry sizes
  weights: list[Literal["real", "synthetic"]] = [registry.DEFAULT_WEIGHTS]
  quantize: list[str] = [registry.DEFAULT_QUANTIZE]
  prompts: list[str] = Field([registry.DEFAULT_PROMPT], min_length=1)
  prompt_tokens: list[int] | None = None        # each prompt made exactly this long: the context depth
  n_tokens: list[int] = [registry.DEFAULT_N_TOKENS]
  temperature: list[float] = [0.0]
  ctx: list[int] = [registry.DEFAULT_CTX]
  threads: list[int] = [registry.DEFAULT_THREADS]
  batch: list[int] = [1]
  seed: list[int] = [registry.DEFAULT_SEED]
  nodes: list[str] = []  # with --cluster: each configuration once per value, on a node offering its labels (gpu_type=H100, cpu)
  runs: int = Field(registry.DEFAULT_RUNS, gt=0)
  warmup: int = Field(registry.DEFAULT_WARMUP, ge=0)
  min_seconds: float = Field(registry.DEFAULT_MIN_SECONDS, ge=0)
  target_ci: float | None = Field(None, gt=0)  # --target-ci PCT: runs until the decode interval is within +-PCT% of its median
  max_runs: int | None = Field(None, ge=3)     # its caps (bench.precision gives their defaults)
  max_seconds: float | None = Field(None, gt=0)
  device: Literal["cpu", "cuda", "auto"] = "cpu"
  output: str = "benchmark_output"
  timeout: float | None = Field(None, gt=0)
  memory_limit: str | int | None = None

  @field_validator("*", mode="before")
  @classmethod
  def one_is_a_list(cls, v, info: ValidationInfo): return v if info.field_name not in LISTS or isinstance(v, list) or v is None else [v]

  @field_validator("prompt_tokens", "n_tokens", "ctx", "threads", "batch")
  @classmethod
  def positive(cls, v):
    if v is not None and (bad := [x for x in v if x < 1]): raise ValueError(f"{bad[0]} is not >= 1")
    return v

  @field_validator("temperature")
  @classmethod
  def non_negative(cls, v):
    if bad := [x for x in v if x < 0]: raise ValueError(f"{bad[0]} is not >= 0")
    return v

  @field_validator("quantize")
  @classmethod
  def known_quantizations(cls, v):
    for q in v:
      try: formats.quant_type(q)
      except formats.ModelError as e: raise ValueError(str(e))
    return v

  @model_validator(mode="after")
  def known_sizes(self):
    if not self.models and (bad := [s for s in self.sizes if s not in registry.MODELS]):
      raise ValueError(f"sizes: unknown size {bad[0]!r}: use one of {', '.join(registry.MODELS)}, or models: [PATH] for local GGUFs")
    return self

  @field_validator("models")
  @classmethod
  def existing_files(cls, v):
    if missing := [m for m in v if not Path(m).expanduser().is_file()]: raise ValueError(f"no file {missing[0]}")
    return v

  @field_validator("nodes")
  @classmethod
  def node_labels(cls, v):
    try: return [cli.node_labels(x) for x in v]
    except argparse.ArgumentTypeError as e: raise ValueError(str(e))

  @field_validator("memory_limit")
  @classmethod
  def readable_size(cls, v):
    if v is not None: memory.parse_size(v)
    return v

  def namespace(self, model: str | None, cluster: str | None = None) -> argparse.Namespace:
    """The flags the benchmark scripts would be given for one model: the grid expands in bench.plan, once."""
    return argparse.Namespace(
      size=self.sizes if model is None else [Path(model).stem], model=model, weights=self.weights, quantize=self.quantize,
      seed=self.seed, prompt=self.prompts, prompt_tokens=self.prompt_tokens, n_tokens=self.n_tokens, runs=self.runs,
      min_seconds=self.min_seconds, target_ci=self.target_ci, max_runs=self.max_runs, max_seconds=self.max_seconds,
      warmup=self.warmup, threads=self.threads, device=self.device, ctx=self.ctx,
      batch=self.batch, temperature=self.temperature, **{k: getattr(self, k) for k in KNOBS},
      memory_limit=None if self.memory_limit is None else str(self.memory_limit), nodes=self.nodes, cluster=cluster)

# each knob a list of the values its flag takes: a switch on|off, a choice one of its choices, a number >= 0
Experiment = create_model("Experiment", __base__=Grid, __doc__=Grid.__doc__, **{
  name: (list[Annotated[int, Field(ge=0)]], [int(k["default"])]) if k["kind"] is int else (list[Literal[k["choices"]]], [k["default"]])
  for name, k in KNOBS.items()})

class ExperimentError(Exception):
  """A file that is not a valid experiment: the message names the file, each bad key and why."""

def load(path: Path) -> Experiment | ServingExperiment:
  path = Path(path)
  try: raw = yaml.safe_load(path.read_text(encoding="utf-8"))
  except OSError as e: raise ExperimentError(f"{path}: cannot read it ({e.strerror})")
  except yaml.YAMLError as e: raise ExperimentError(f"{path}: not valid YAML: {e}".replace("\n", " "))
  if not isinstance(raw, dict): raise ExperimentError(f"{path}: must be a mapping of keys (backends: ..., n_tokens: ...), not {type(raw).__name__}")
  schema = ServingExperiment if raw.get("kind") == "serving" else Experiment
  try: return schema(**raw)
  except ValidationError as e:
    known = ", ".join(schema.model_fields)
    lines = [(f"{'.'.join(str(p) for p in err['loc'])}: " if err["loc"] else "") +
             (f"unknown key (known: {known})" if err["type"] == "extra_forbidden" else
              f"{err['msg'].removeprefix('Value error, ')} (got {err['input']!r})") for err in e.errors()]
    raise ExperimentError(f"{path}: {len(lines)} error(s):\n  " + "\n  ".join(lines))

def plan(exp: Experiment, cluster: str | None = None) -> list[RunConfig]:
  """Every configuration of the file, in file order: backends, then models, then bench.plan's order."""
  return [cfg for backend in exp.backends for model in exp.models or [None] for cfg in bench.plan(backend, exp.namespace(model, cluster))]

def finished_log(cfg: RunConfig, finished: dict[str, list[Path]]) -> Path | None:
  """The ok log of the configuration's settings, if any. On a cluster, device auto is resolved on the node, and its
  log says which it became."""
  devices = ["cpu", "cuda"] if cfg.device == "auto" else [cfg.device]
  return next((logs[-1] for d in devices if (logs := finished.get(resume.settings_key({**cfg.settings(), "device": d})))), None)

# --- the dry run's estimate ---

# Per backend, on this project's 2-core CI CPU for the 135M (README's results): decode step ms, prefill tok/s, load s.
# Used when the output folder holds no log of the model yet; scaled by parameter count.
FALLBACK_RATES = {"llamacpp": (21.0, 210.0, 3.0), "tinygrad": (550.0, 6.0, 60.0), "mlx": (140.0, 10.0, 1.0), "torch": (62.0, 300.0, 18.0)}

def measured_rates(output_dir: Path) -> dict[tuple, tuple[float, float, float]]:
  """(backend, size, quantize, device) -> median decode step ms (batch 1), prefill tok/s, load+prepare s of ok logs."""
  seen: dict[tuple, list[tuple[float, float, float]]] = {}
  for path in Path(output_dir).glob("*.txt"):
    try: log = parse(path)
    except LogError: continue
    h = log.header
    dec = [s["total_latency_ms"] for s in log.steps if s["phase"] == "decode"]
    pre = [s["n_tokens"] / s["total_latency_ms"] * 1e3 for s in log.steps if s["phase"] == "prefill" and s["total_latency_ms"] > 0]
    if not (log.ok and dec and pre and h.get("batch", "1") == "1"): continue
    overhead = float(h.get("load_seconds") or 0) + float(h.get("prepare_seconds") or 0) + float(h.get("compile_seconds") or 0)
    seen.setdefault((h["backend"], h["size"], h["quantize"], h["device"]), []).append(
      (statistics.median(dec), statistics.median(pre), overhead))
  return {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) for k, v in seen.items()}

def estimate_s(cfg: RunConfig, rates: dict) -> tuple[float, bool]:
  """Seconds a configuration should take, and whether an earlier log of its model measured the rates. Batch B is
  counted as B times a step's time, depth as no slower than at the start: an upper and a lower bound, roughly. With a
  target_ci its caps are the bound: max_runs, or as many as max_seconds allows, whichever comes first."""
  key = (cfg.backend, cfg.size, cfg.quantize, cfg.device)
  if key in rates: step_ms, prefill_tok_s, overhead_s = rates[key]
  else:
    step_ms, prefill_tok_s, overhead_s = FALLBACK_RATES[cfg.backend]
    scale = (synthetic.n_params(registry.MODELS[cfg.size].arch) / synthetic.n_params(registry.MODELS["135M"].arch)
             if cfg.size in registry.MODELS else 1.0)
    step_ms, prefill_tok_s = step_ms * scale, prefill_tok_s / scale
  run_s = cfg.batch * (len(cfg.prompt_ids) / prefill_tok_s + cfg.n_tokens * step_ms / 1e3)
  runs = max(cfg.runs, math.ceil(cfg.min_seconds / run_s))
  if cfg.target_ci_pct: runs = max(runs, 3, min(cfg.max_runs, math.ceil(cfg.max_seconds / run_s)))
  return overhead_s + run_s * (cfg.warmup + runs), key in rates

def describe(cfg: RunConfig) -> dict:
  return {"backend": cfg.backend, "size": cfg.size, "quantize": cfg.quantize, "weights": cfg.weights, "prompt": len(cfg.prompt_ids),
          "n_tokens": cfg.n_tokens, "T": cfg.temperature, "ctx": cfg.ctx, "batch": cfg.batch, "threads": cfg.threads, "seed": cfg.seed,
          **({"knobs": knobs_text(cfg.knobs)} if cfg.knobs else {}),
          **({"nodes": cfg.nodes} if cfg.nodes else {})}

def print_plan(configs: list[RunConfig], finished: dict[str, Path], output_dir: Path):
  from inferbench.core import stats
  rates = measured_rates(output_dir)
  rows, total_s, guessed = [], 0.0, 0
  for i, cfg in enumerate(configs, 1):
    skip = finished_log(cfg, finished)
    est, measured = estimate_s(cfg, rates)
    if not skip: total_s, guessed = total_s + est, guessed + (not measured)
    rows.append({"#": i, **describe(cfg), "est s": "-" if skip else round(est), "state": f"done ({skip.name})" if skip else "to run"})
  print(stats.format_table(rows, list(rows[0])))
  todo = sum(r["state"] == "to run" for r in rows)
  print(f"{len(configs)} configuration(s): {todo} to run, {len(configs) - todo} done already; estimated {total_s / 60:.1f} min"
        + (f" ({guessed} estimated from this project's CPU rates for the 135M, scaled by size: no earlier log of their model in {output_dir})"
           if guessed else f" (rates of earlier logs in {output_dir})"))

# --- running ---

def session_path(output_dir: Path, started: datetime.datetime) -> Path:
  return Path(output_dir) / f"session_{started.strftime('%Y%m%dT%H%M%S')}_{os.getpid()}.json"

def run(path: Path, dry_run: bool = False, cluster: str | None = None, nodes: list[str] | None = None, retries: int = 0,
        update: dict | None = None, report: bool = True) -> int:
  """Plans the file, then runs what is not done yet (on the Ray cluster at `cluster` if given, nodes replacing the
  file's nodes:, `update` replacing other keys: a part of the file's sizes), keeping the session record, and ends with
  the folder's CSVs, analysis, plots and deck (report=False: a caller that analyses it itself). Returns an exit code."""
  exp = load(path)
  if update: exp = exp.model_copy(update=update)
  if isinstance(exp, ServingExperiment):
    if cluster: raise ExperimentError(f"{path}: a serving experiment runs its servers on this machine: drop --cluster")
    return serving_experiment.run(exp, Path(path), dry_run)
  if nodes: exp = exp.model_copy(update={"nodes": nodes})
  if exp.nodes and not cluster:
    raise ExperimentError(f"{path}: nodes {', '.join(exp.nodes)} picks nodes of a Ray cluster: pass --cluster auto (or its address), or drop nodes:")
  try: configs = plan(exp, cluster)
  except (formats.ModelError, ValueError) as e: raise ExperimentError(f"{path}: {e}") from e
  output_dir = Path(exp.output)
  finished = resume.finished(output_dir)
  if dry_run:
    print_plan(configs, finished, output_dir)
    return 0
  skipped = {i: log for i, cfg in enumerate(configs) if (log := finished_log(cfg, finished))}
  todo = [cfg for i, cfg in enumerate(configs) if i not in skipped]
  if cluster: from . import fleet  # Ray only for a cluster run
  with fleet.connect(cluster) if cluster else nullcontext() as cluster_nodes:
    todo, blocked = fleet.schedulable(todo, cluster_nodes) if cluster else (todo, [])  # before anything runs
    output_dir.mkdir(parents=True, exist_ok=True)
    started, t0 = datetime.datetime.now(datetime.timezone.utc), time.monotonic()
    md: dict = {}
    metadata.collect_git(md)
    record = {"experiment": str(path), "name": exp.name, "file": Path(path).read_text(encoding="utf-8"),
              "started_at": started.isoformat(timespec="seconds"), "ended_at": None, "duration_s": None,
              "git_commit": md["git_commit"], "hostname": socket.gethostname(), **({"cluster": cluster} if cluster else {}),
              "planned": len(configs), "ok": 0, "failed": len(blocked), "skipped": len(skipped),
              "configurations": [{**describe(configs[i]), "status": "skipped: ok log with the same settings", "log": log.name} for i, log in skipped.items()]
                                + [{**describe(b["cfg"]), "status": b["status"], "log": None} for b in blocked]}
    record_path = session_path(output_dir, started)

    def save(**update):
      record.update(update, duration_s=round(time.monotonic() - t0, 1))
      files.atomic_write(record_path, json.dumps(record, indent=1))

    def finished_one(cfg: RunConfig, d: dict):
      """A configuration has ended: into the record (with its node and the node's times, on a cluster)."""
      where = {k: d[k] for k in ("host", "node", "started_at", "ended_at") if k in d}
      record["configurations"].append({**describe(cfg), "status": d["status"], "log": d["log"].name, **where})
      record["ok" if d["status"] == "ok" else "failed"] += 1
      save()

    def one(cfg: RunConfig, log: Path) -> str:
      finished_one(cfg, {"status": (status := local.run_limited(cfg, log, exp.timeout)), "log": log})
      return status

    save()
    print(f"{exp.name}: {len(configs)} configuration(s), {len(todo)} to run, {len(skipped)} done already"
          + (f", {len(blocked)} no node can run" if blocked else "") + f" (session record: {record_path})", file=sys.stderr, flush=True)
    try:
      if todo and cluster: fleet.run_all(todo, output_dir, cluster_nodes, retries, exp.timeout, finished_one)
      elif todo: local.run_all(todo, output_dir, one)
    finally:
      save(ended_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
  print(f"{exp.name}: {record['ok']} ok, {record['failed']} failed, {record['skipped']} skipped of {len(configs)}; "
        f"record in {record_path}", file=sys.stderr)
  if report and (record["ok"] or record["skipped"]): pipeline.report(output_dir)
  return 0 if record["failed"] == 0 else 1


def main(argv: list[str] | None = None, doc: str | None = None) -> int:
  p = cli.Parser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("experiment", type=Path, help="the experiment file (YAML): see experiments/*.yaml")
  p.add_argument("--dry-run", action="store_true", help="print the plan, what is done already and an estimate of the time; run nothing")
  cli.fleet_flags(p)
  args = p.parse_args(argv)
  try:
    cli.check_fleet_flags(args)
    return run(args.experiment, args.dry_run, args.cluster, args.nodes, args.retries)
  except (ExperimentError, formats.ModelError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:  # the running configuration's log says so; the session record is saved
    again = " ".join([str(args.experiment), *(["--cluster", args.cluster] if args.cluster else []), *(["--nodes", *args.nodes] if args.nodes else [])])
    print(f"interrupted: run `python run_experiment.py {again}` again to finish what is left", file=sys.stderr)
    return 130
