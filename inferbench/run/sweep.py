"""Quantization sweep: for each quantization of one model, its file, its speed on each backend, its quality against
the F16 reference and its task accuracy, in benchmark_output/sweep_{size}.csv and plots/quantization_pareto.png.

Each quantization runs in its own child process (`python -m inferbench.run.sweep JOB_JSON`) through four phases:
  quantize  make or reuse the GGUF with llama.cpp's quantizer (prepare.quantized), record bytes and bits per weight
  speed     the regular benchmark, one worker per backend (local.run_limited: raw log in benchmark_output/, collated)
  quality   perplexity, KL and top-1 agreement against the F16 reference, from llama.cpp logits (quality.py)
  tasks     lm-eval on seeded local tasks, through llama-cpp-python on the GGUF file (harness.py); paired against F16
A backend's own quantization (MLX's mlx-q4, mlx-q8, mlx-q4-g32; PyTorch's torchao-int8, torchao-int4) is read by that
backend only: it is timed on that backend only, scored from its logits against its logits of the F16 reference, and
skips the tasks.
Each phase saves a journal (benchmark_output/sweep_{size}/{quant}.{phase}.json) that holds the settings it ran with;
a rerun skips a phase whose journal is ok with the same settings, unless --force. The CSV is rebuilt from the
journals after every quantization and replaced atomically, so a killed sweep leaves the previous CSV whole.
"""
from __future__ import annotations
import argparse, errno, hashlib, json, signal, subprocess, sys, time, uuid
from collections import deque
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
import pandas as pd
from inferbench import backends
from inferbench.analyse import analysis
from inferbench.core import cli, metadata, files, formats, names, registry, proc, stats
from inferbench.store import collate, resume
from inferbench.models import modelfile, prepare
from inferbench.measure import harness, quality
from inferbench.run import bench, local
from inferbench.core.config import RunConfig

LADDER = ["F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K"]
REFERENCE = "F16"
SPEED_TOKENS = 64      # decode steps per speed run: enough for a stable median, short enough for 8 quantizations
QUALITY_TOKENS = 512   # text tokens scored for perplexity, KL and agreement
QUALITY_CTX = 256      # tokens per window (each from an empty cache): 2 windows, 510 predictions
TASK_EXAMPLES = 40     # per task, 4 tasks: 160 paired examples, best-case detectable drop 4.9 points (harness.detectable_drop)
# The deck (issue 3) reads these names: keep them.
COLUMNS = ["size", "model_name", "quant", "backend", "bits_per_weight", "file_bytes", "decode_tok_s", "decode_tok_s_ci95_low",
           "decode_tok_s_ci95_high", "prefill_tok_s", "decode_cv", "speed_runs", "perplexity", "kl_mean", "kl_p99", "top1_agreement",
           "task_accuracy", "task_accuracy_ci95_low", "task_accuracy_ci95_high", "task_examples", "task_detail",
           "task_diff_vs_f16", "task_diff_ci95_low", "task_diff_ci95_high", "task_diff_p_mcnemar", "task_diff_p_mcnemar_holm", "task_verdict",
           "task_detectable_drop", "task_generator", "task_seed", "task_harness", "status", "speed_decode_tokens", "speed_prompt_tokens", "threads", "quality_tokens", "quality_ctx",
           "quality_scored", "quality_text", "quality_text_sha256", "quality_reference", "quality_measured_with",
           "source_type", "model_sha256", "speed_log", "device_name", "hostname", "cpu_model", "python",
           "llama_cpp_python", "tinygrad", "git_commit", "mlx", "torch"]
SUMMARY = ["quant", "backend", "bits_per_weight", "decode_tok_s", "prefill_tok_s", "perplexity", "kl_mean", "kl_p99",
           "top1_agreement", "task_accuracy", "task_diff_vs_f16", "task_verdict", "status"]

@dataclass(frozen=True)
class Job:
  """What one quantization's child process does."""
  quant: str
  size: str                 # registry size, or the label of --model
  model: str | None
  source_type: str          # the source GGUF's type, read once by the parent (describe() takes seconds)
  backends: list[str]
  journal: str              # folder of the phase journals
  out_dir: str              # raw logs of the speed runs
  seed: int
  n_tokens: int
  runs: int
  warmup: int
  min_seconds: float
  threads: int
  ctx: int
  prompt: str
  quality_tokens: int
  quality_ctx: int
  task_examples: int
  task_threads: int
  timeout: float | None
  force: bool
  run_id: str               # stamped on every journal this sweep wrote or checked: the rows use no other

def say(quant: str, msg: str): print(f"  [{quant}] {msg}", file=sys.stderr, flush=True)

def _version(pkg: str) -> str:
  try: return version(pkg)
  except PackageNotFoundError: return ""

def backends_of(job: Job) -> list[str]:
  """The backends that can read this quantization: a backend's own only that backend."""
  return [b for b in job.backends if formats.owner(job.quant) in (None, b)]

def has_tasks(job: Job) -> bool: return bool(job.task_examples) and not formats.owner(job.quant)  # the tasks run on llama.cpp

def journal_path(job: Job, phase: str) -> Path: return Path(job.journal) / f"{job.quant}.{phase}.json"

def load_journal(path: Path, run_id: str | None = None) -> dict | None:
  """A phase's journal; with run_id, only one this sweep stamped."""
  j = resume.read_journal(path)
  return j if j is not None and (run_id is None or j.get("run_id") == run_id) else None

def save_journal(job: Job, name: str, j: dict): resume.write_journal(journal_path(job, name), {**j, "run_id": job.run_id})

def phase(job: Job, name: str, settings: dict, fn) -> dict:
  """Runs fn() unless an ok journal with the same settings exists; saves what it returns, or why it failed."""
  path = journal_path(job, name)
  if not job.force and (j := resume.read_journal(path, settings)):
    save_journal(job, name, j)
    say(job.quant, f"{name}: done {j['finished_at']}, skipped (--force reruns it)")
    return j
  say(job.quant, f"{name} ...")
  t0 = time.perf_counter()
  try: result = {**fn(), "status": "ok"}
  except Exception as e:  # noqa: BLE001 - a failed phase is recorded and the others still run
    if files.full(e): raise  # not the phase's failure: nothing more can be written, so the sweep stops
    result = {"status": f"failed: {type(e).__name__}: {e}".replace("\n", " ")}
  result.update(settings=settings, seconds=round(time.perf_counter() - t0, 3), finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
  save_journal(job, name, result)
  say(job.quant, f"{name}: {result['status']} in {result['seconds']:.1f} s")
  return result

def run_job(job: Job):
  """Everything for one quantization, in this (child) process."""
  source = prepare.source_path(job.size, job.model)
  t0 = time.perf_counter()
  say(job.quant, "quantize ...")
  path = prepare.quantized(source, job.quant, job.threads, log=lambda m: say(job.quant, m))
  info = modelfile.describe(path)
  q = {"status": "ok", "file": str(path), "file_bytes": path.stat().st_size, "bits_per_weight": info.bits_per_weight,
       "model_name": info.name, "model_sha256": info.sha256, "file_type": info.file_type, "source_type": job.source_type}
  save_journal(job, "quantize", q)
  say(job.quant, f"quantize: {path.name}, {q['file_bytes'] / 1e6:.1f} MB, {info.bits_per_weight:.2f} bits/weight in {time.perf_counter() - t0:.1f} s")

  ids = prepare.prompt_ids(source, job.prompt, None)
  for backend in backends_of(job):
    cfg = RunConfig(backend=backend, size=job.size, quantize=job.quant, seed=job.seed, uuid=uuid.uuid4().hex[:8], prompt_ids=ids,
                    model=job.model, n_tokens=job.n_tokens, runs=job.runs, warmup=job.warmup, min_seconds=job.min_seconds,
                    threads=job.threads, ctx=job.ctx)
    settings = {"model_sha256": info.sha256, "version": _version({"llamacpp": "llama_cpp_python"}.get(backend, backend)),
                **{k: getattr(job, k) for k in ("seed", "n_tokens", "runs", "warmup", "min_seconds", "threads", "ctx")},
                "prompt_sha256": hashlib.sha256(json.dumps(ids).encode()).hexdigest()}
    phase(job, f"speed-{backend}", settings, lambda: speed(cfg, Path(job.out_dir), job.timeout))

  ref = prepare.quantized(source, REFERENCE, job.threads, log=lambda m: say(job.quant, m))
  txt = quality.text(ref, job.quality_tokens, job.quality_ctx)
  engine = formats.owner(job.quant) or "llamacpp"
  settings = {"model_sha256": info.sha256, "reference_sha256": files.file_sha256(ref), "text_sha256": txt.sha256,
              "tokens": job.quality_tokens, "ctx": job.quality_ctx, "engine": engine, "version": " ".join(quality.engine_version(engine).values())}
  def measure_quality() -> dict:
    r = quality.compare(quality.reference_logits(ref, txt, job.quality_ctx, job.threads, log=lambda m: say(job.quant, m), engine=engine),
                        quality.logits(path, txt, job.quality_ctx, job.threads, engine), quality.targets(txt, job.quality_ctx))
    return {**asdict(r), "reference": str(ref), "text": txt.source}
  phase(job, "quality", settings, measure_quality)

  if has_tasks(job):
    phase(job, "tasks", task_settings(job, info.sha256),
          lambda: asdict(harness.evaluate(path, harness.make_tasks(task_dir(job), job.seed, job.task_examples), job.task_threads, job.seed)))

def task_dir(job: Job) -> Path: return Path(job.journal) / "tasks"
def task_settings(job: Job, sha: str | None) -> dict:
  return {"model_sha256": sha, "seed": job.seed, "examples": job.task_examples, "generator": harness.GENERATOR,
          "version": f"lm-eval {_version('lm_eval')} llama-cpp-python {_version('llama_cpp_python')}"}

def task_columns(job: Job, tsk: dict) -> dict:
  """Accuracy with its interval, and the paired difference from F16's journal of the same tasks (any sweep's: F16 need
  not be in this one), with its interval and verdict."""
  if tsk.get("status") != "ok": return {}
  ref = load_journal(Path(job.journal) / f"{REFERENCE}.tasks.json") or {}
  same = ref.get("status") == "ok" and {k: v for k, v in ref["settings"].items() if k != "model_sha256"} == \
         {k: v for k, v in tsk["settings"].items() if k != "model_sha256"}
  d = harness.paired(ref["correct"], tsk["correct"], job.seed) if same else None
  q = d.discordant / tsk["n_examples"] if d and d.discordant else None
  return {"task_accuracy": tsk["accuracy"], "task_accuracy_ci95_low": tsk["ci95_low"], "task_accuracy_ci95_high": tsk["ci95_high"],
          "task_examples": tsk["n_examples"], "task_detail": " ".join(f"{k} {v}" for k, v in tsk["per_task"].items()),
          **({"task_diff_vs_f16": d.diff, "task_diff_ci95_low": d.ci95_low, "task_diff_ci95_high": d.ci95_high,
              "task_diff_p_mcnemar": d.p_mcnemar, "task_verdict": d.verdict} if d else {"task_verdict": f"no {REFERENCE} result on these tasks"}),
          "task_detectable_drop": harness.detectable_drop(tsk["n_examples"], q), "task_generator": tsk["settings"]["generator"],
          "task_seed": tsk["settings"]["seed"], "task_harness": tsk["settings"]["version"]}

def speed(cfg: RunConfig, out_dir: Path, timeout: float | None) -> dict:
  """The regular benchmark path: a worker writes a raw log, collate updates the backend's CSV, and the analysis's run-level
  statistics (the same as summary.csv's) give the speed columns."""
  out_dir.mkdir(parents=True, exist_ok=True)
  log = out_dir / local.log_name(cfg)
  status = local.run_limited(cfg, log, timeout)
  if files.FULL in status: raise OSError(errno.ENOSPC, status.removeprefix("failed: "), str(log))
  collate.collate(cfg.backend, out_dir)
  if status != "ok": raise RuntimeError(f"{status} (log: {log})")
  s = analysis.analyse(analysis.from_logs([log]))[1].set_index("phase")
  number = lambda phase, col: float(s.at[phase, col])
  return {"decode_tok_s": number("decode", "tok_s_median"), "decode_tok_s_ci95_low": number("decode", "tok_s_ci95_low"),
          "decode_tok_s_ci95_high": number("decode", "tok_s_ci95_high"), "prefill_tok_s": number("prefill", "tok_s_median"),
          "decode_cv": number("decode", "cv"), "runs": int(s.at["decode", "n_runs"]), "decode_tokens": cfg.n_tokens,
          "prompt_tokens": len(cfg.prompt_ids), "log": log.name}

# The child stops its worker in up to proc.GRACE_S and writes its status; the whole still holds within 2 s.
CHILD_GRACE_S = proc.GRACE_S + 0.3

def child(job: Job, timeout: float | None) -> str:
  """Runs one quantization's child process; returns '' if it exited cleanly, else why it did not. At `timeout` seconds
  a timer stops it whatever it prints: SIGTERM, which it turns into cleanup (its worker's and server's groups, whose
  logs then say so), then SIGKILL CHILD_GRACE_S later."""
  cmd = [sys.executable, "-m", "inferbench.run.sweep", json.dumps(asdict(job))]
  tail: deque[str] = deque(maxlen=3)
  oom = proc.oom_kills()
  p = proc.start(cmd, stderr=subprocess.PIPE, text=True, errors="replace", cwd=files.ROOT)
  relay = proc.relay(p.stderr, tail)
  try: rc = proc.wait(p, timeout, CHILD_GRACE_S)
  except BaseException as e:  # Ctrl-C reaches the child as SIGINT ('interrupted'), a stop signal as SIGTERM
    proc.stop(p, CHILD_GRACE_S, signal.SIGINT if isinstance(e, KeyboardInterrupt) else signal.SIGTERM)
    raise
  relay.join(timeout=1.0)
  if rc is None: return f"timed out after {timeout:g} s"
  return "" if rc == 0 else proc.exit_reason("child", rc, oom) + (f": {tail[-1]}" if tail else "")

def rows(job: Job, crash: str, md: dict) -> list[dict]:
  """The CSV rows of one quantization, from the journals this sweep stamped; a phase without one says why."""
  load = lambda name: load_journal(journal_path(job, name), job.run_id) or {}
  q, qual, tsk = load("quantize"), load("quality"), load("tasks")
  out = []
  for backend in backends_of(job):
    sp = load(f"speed-{backend}")
    journals = {"quantize": q, "speed": sp, "quality": qual, **({"tasks": tsk} if has_tasks(job) else {})}
    failed = [f"{k}: {j['status'].removeprefix('failed: ')}" for k, j in journals.items() if j and j.get("status") != "ok"]
    if missing := [k for k, j in journals.items() if not j]: failed.append(f"{crash or 'stopped'}; no result for {', '.join(missing)}")
    qs = qual.get("settings", {})
    out.append({
      "size": job.size, "model_name": q.get("model_name"), "quant": job.quant, "backend": backend,
      "bits_per_weight": q.get("bits_per_weight"), "file_bytes": q.get("file_bytes"),
      "decode_tok_s": sp.get("decode_tok_s"),
      "decode_tok_s_ci95_low": sp.get("decode_tok_s_ci95_low"), "decode_tok_s_ci95_high": sp.get("decode_tok_s_ci95_high"), "prefill_tok_s": sp.get("prefill_tok_s"), "decode_cv": sp.get("decode_cv"),
      "speed_runs": sp.get("runs"), "speed_decode_tokens": sp.get("decode_tokens"), "speed_prompt_tokens": sp.get("prompt_tokens"),
      "perplexity": qual.get("perplexity"), "kl_mean": qual.get("kl_mean"), "kl_p99": qual.get("kl_p99"),
      "top1_agreement": qual.get("top1_agreement"), "quality_tokens": qs.get("tokens"), "quality_ctx": qs.get("ctx"),
      "quality_scored": qual.get("n_scored"), "quality_text": qual.get("text"), "quality_text_sha256": qs.get("text_sha256"),
      "quality_reference": Path(qual["reference"]).name if qual.get("reference") else None,
      "quality_measured_with": f"{names.name(qs.get('engine', 'llamacpp'))} {qs['version']} logits" if qs.get("version") else None,
      **task_columns(job, tsk),
      "status": "failed: " + "; ".join(failed) if failed else "ok", "threads": job.threads,
      "source_type": q.get("source_type"), "model_sha256": q.get("model_sha256"), "speed_log": sp.get("log"), **md})
  return out

def holm_verdicts(all_rows: list[dict]) -> list[dict]:
  """The sweep's quantizations against F16 as one family: each McNemar p Holm-adjusted across them (one per
  quantization, whatever its backends), and its verdict from the adjusted p."""
  raw: dict[str, float] = {}
  for r in all_rows:
    if r["quant"] != REFERENCE and r.get("task_diff_p_mcnemar") is not None: raw.setdefault(r["quant"], r["task_diff_p_mcnemar"])
  adjusted = dict(zip(raw, harness.holm(list(raw.values()))))
  return [{**r, "task_diff_p_mcnemar_holm": adjusted[r["quant"]], "task_verdict": harness.verdict(r["task_diff_vs_f16"], adjusted[r["quant"]])}
          if r["quant"] in adjusted else r for r in all_rows]

def write_csv(path: Path, all_rows: list[dict]):
  collate.write_csv(path, COLUMNS, pd.DataFrame(all_rows, columns=COLUMNS))

def parser(doc: str | None = None) -> argparse.ArgumentParser:
  p = cli.Parser(description=doc, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  p.add_argument("--size", help=f"model size: {', '.join(registry.MODELS)} (default {registry.DEFAULT_SIZE}); with --model, its label")
  p.add_argument("--model", help="sweep this local GGUF instead of a registry size")
  p.add_argument("--quantize", nargs="+", default=LADDER, help=f"GGUF types, of {', '.join(formats.FTYPES)}; or MLX's mlx-q4, mlx-q8, mlx-q4-g32; or PyTorch's {', '.join(formats.TORCHAO)}")
  p.add_argument("--backend", nargs="+", default=["llamacpp"], choices=backends.STEP, help="backends timed for speed")
  p.add_argument("--force", action="store_true", help="rerun every phase, even those a journal says are done")
  p.add_argument("--seed", type=cli.whole(0), default=registry.DEFAULT_SEED, help="speed runs and task generation")
  p.add_argument("--prompt", default=registry.DEFAULT_PROMPT, help="speed runs' prompt")
  p.add_argument("--n-tokens", type=cli.whole(1), default=SPEED_TOKENS, help="decode steps per speed run")
  p.add_argument("--runs", type=cli.whole(1), default=registry.DEFAULT_RUNS, help="measured speed runs, at least")
  p.add_argument("--min-seconds", type=cli.number(0), default=registry.DEFAULT_MIN_SECONDS, help="measured speed time, at least")
  p.add_argument("--warmup", type=cli.whole(0), default=registry.DEFAULT_WARMUP, help="unmeasured speed runs first")
  p.add_argument("--threads", type=cli.whole(1), default=registry.DEFAULT_THREADS, help="CPU threads for speed and quality")
  p.add_argument("--ctx", type=int, default=registry.DEFAULT_CTX, help="speed runs' context length: at least the prompt + --n-tokens")
  p.add_argument("--quality-tokens", type=cli.whole(2), default=QUALITY_TOKENS, help="text tokens scored against the F16 reference")
  p.add_argument("--quality-ctx", type=cli.whole(2), default=QUALITY_CTX, help="tokens per quality window (divides --quality-tokens)")
  p.add_argument("--task-examples", type=cli.whole(0), default=TASK_EXAMPLES, help=f"examples per task ({', '.join(harness.TASKS)}); 0 skips the tasks")
  # llama.cpp's threads spin-wait; on a shared CPU two of them can be 20x slower than one, and accuracy needs no speed
  p.add_argument("--task-threads", type=cli.whole(1), default=1, help="CPU threads of the task evaluation")
  p.add_argument("--timeout", type=cli.number(0, inclusive=False), help="seconds before one quantization's child is stopped and recorded as failed")
  p.add_argument("-o", "--output-dir", type=Path, default=Path("benchmark_output"))
  p.add_argument("--plot", type=Path, default=Path("plots/quantization_pareto.png"))
  return p

def main(argv: list[str] | None = None, doc: str | None = None) -> int:
  args = parser(doc).parse_args(argv)
  if bad := [q for q in args.quantize if q not in formats.FTYPES and not formats.owner(q)]:
    print(f"error: unknown quantization {', '.join(bad)}: use GGUF types {', '.join(formats.FTYPES)}, or MLX's mlx-q4, mlx-q8, mlx-q4-g32, "
          f"or PyTorch's {', '.join(formats.TORCHAO)}", file=sys.stderr)
    return 2
  try:
    for q in filter(formats.owner, args.quantize):
      formats.own_name(q)
      if (owner := formats.owner(q)) not in args.backend: raise ValueError(f"{q} is {names.name(owner)}'s own quantization: add --backend {owner}")
    size = args.size or (Path(args.model).stem if args.model else registry.DEFAULT_SIZE)
    if not args.model: formats.check_size(size)
    source = prepare.source_path(size, args.model)
    source_type = modelfile.describe(source).file_type
    if args.quality_tokens % args.quality_ctx:
      raise ValueError(f"--quality-tokens {args.quality_tokens} is not a multiple of --quality-ctx {args.quality_ctx}: "
                       f"pass --quality-tokens {args.quality_tokens // args.quality_ctx * args.quality_ctx or args.quality_ctx}")
    bench.check_ctx(args.ctx, len(prepare.prompt_ids(source, args.prompt, None)), args.n_tokens)
    cli.output_dir(args.output_dir)
    cli.output_dir(args.plot.parent, "--plot's folder")
  except (formats.ModelError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  out = args.output_dir
  target = out / f"sweep_{size}.csv"
  md = metadata.collect_all()
  md = {"hostname": md["hostname"], "cpu_model": md["cpu_model"], "device_name": metadata.device_name("cpu"), "python": md["python"],
        "llama_cpp_python": md.get("version.llama_cpp_python"), "tinygrad": md.get("version.tinygrad"), "git_commit": md["git_commit"],
        "mlx": md.get("version.mlx"), "torch": md.get("version.torch")}
  done: list[dict] = []
  quants, run_id = list(dict.fromkeys(args.quantize)), uuid.uuid4().hex[:12]
  for i, quant in enumerate(quants, 1):
    job = Job(quant=quant, size=size, model=args.model, source_type=source_type, backends=args.backend, journal=str(out / f"sweep_{size}"), out_dir=str(out),
              seed=args.seed, n_tokens=args.n_tokens, runs=args.runs, warmup=args.warmup, min_seconds=args.min_seconds,
              threads=args.threads, ctx=args.ctx, prompt=args.prompt, quality_tokens=args.quality_tokens, quality_ctx=args.quality_ctx,
              task_examples=args.task_examples, task_threads=args.task_threads,
              timeout=args.timeout, force=args.force, run_id=run_id)
    print(f"[{i}/{len(quants)}] {quant}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
      with proc.stop_on(signal.SIGTERM, signal.SIGHUP): crash = child(job, args.timeout)
    except (KeyboardInterrupt, proc.Stopped) as e:
      print(f"[{i}/{len(quants)}] {quant}: stopped: {proc.interrupted(e)}", file=sys.stderr)
      return proc.exit_code(e)
    if files.FULL in crash:  # the journals written so far stand, the CSV stays as it was: a rerun goes on from them
      print(f"error: {crash.split(': ', 1)[1]}", file=sys.stderr)
      return 1
    done = holm_verdicts(done + rows(job, crash, md))
    try: write_csv(target, done)
    except OSError as e:
      if not files.full(e): raise
      print(f"error: {files.cannot_write(e)}", file=sys.stderr)
      return 1
    print(f"[{i}/{len(quants)}] {quant}: {done[-1]['status']} in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
  print(stats.format_table(done, SUMMARY))
  print(f"{target}: {len(done)} rows")
  from inferbench.report.sweep_plot import plot
  try: print(f"{plot(target, args.plot)}")
  except ValueError as e: print(f"no plot: {e}", file=sys.stderr)
  return 0 if all(r["status"] == "ok" for r in done) else 1

def _child_main(argv: list[str]) -> int:
  job = Job(**json.loads(argv[0]))
  # a SIGTERM from the parent (its timeout, or it died) unwinds like Ctrl-C: the finally blocks stop the server and the worker
  try:
    with proc.stop_on(signal.SIGTERM): run_job(job)
  except Exception as e:  # noqa: BLE001 - the parent records it in the row
    if files.full(e): print(files.cannot_write(e), file=sys.stderr)  # the line the parent stops with
    else: say(job.quant, f"FAILED: {type(e).__name__}: {e}".replace("\n", " "))
    return 1
  except (KeyboardInterrupt, proc.Stopped) as e:
    say(job.quant, f"stopped: {proc.interrupted(e)}")
    return proc.exit_code(e)
  return 0

if __name__ == "__main__": sys.exit(_child_main(sys.argv[1:]))
