"""One configuration, in its own process: resolve the model, load the backend, warm up, measure, log every step.
Measured runs go on until --runs and --min-seconds are reached, or with --target-ci until the decode rate's interval
is as tight as asked or a cap is spent (stopping); the last run line says which.

Run by the runner as `python -m inferbench.measure.worker CONFIG_JSON LOG_PATH`, so a crash or an out-of-memory kill
loses only this configuration. The log is written as the run goes; its last line says how it ended.
"""
from __future__ import annotations
import importlib.util
if importlib.util.find_spec("llama_cpp"): import llama_cpp.llama_cpp  # noqa: F401  libllama before numpy: see backends/llamacpp.py
import gc, json, os, signal, sys, time, traceback
from pathlib import Path
from typing import Callable
from inferbench import backends
from inferbench.core import files, memory, metadata, formats, proc
from inferbench.models import modelfile, prepare
from inferbench.measure import bandwidth, contention, energy
from inferbench.core.formats import knobs_text
from inferbench.backends.llamacpp import Tokenizer
from inferbench.store.rawlog import LogWriter
from inferbench.core.config import RunConfig


def say(cfg: RunConfig, msg: str): print(f"  [{cfg.label}] {msg}", file=sys.stderr, flush=True)

def stopping(cfg: RunConfig) -> Callable[[list[float], float], str | None]:
  """Why to stop after the runs so far (their decode tok/s, the seconds measured), or None to run again: never before
  --runs and --min-seconds; with a target, never before 3 runs either, then when the target is met (stats.target_met)
  or max_runs / max_seconds are spent. stats (scipy) is imported here, before a memory limit holds, and only for a
  target: a bare worker stays as small as python_needs_bytes measured it."""
  floor = lambda rates, s: len(rates) >= cfg.runs and s >= cfg.min_seconds
  if cfg.target_ci_pct is None: return lambda rates, s: f"runs ({len(rates)} runs, {s:.1f} s measured)" if floor(rates, s) else None
  from inferbench.core import stats
  def reason(rates: list[float], s: float) -> str | None:
    if not floor(rates, s) or len(rates) < stats.MIN_RUNS_CI: return None
    met, n = stats.target_met(rates, cfg.target_ci_pct), len(rates)
    vs = f"+-{stats.ci_pct(rates):.1f}% {'<=' if met else '>'} +-{cfg.target_ci_pct:g}%"
    if met: return f"target met ({vs}) after {n} runs"
    if n >= cfg.max_runs: return f"max-runs {cfg.max_runs} spent ({vs})"
    if s >= cfg.max_seconds: return f"max-seconds {cfg.max_seconds:g} spent ({vs}) after {n} runs"
    return None
  return reason

def run(cfg: RunConfig, log: LogWriter):
  md = metadata.collect_all()
  precision = {"target_ci_pct": cfg.target_ci_pct, "max_runs": cfg.max_runs, "max_seconds": cfg.max_seconds} if cfg.target_ci_pct else {}
  md.update(cfg.header(), prompt_token_ids=json.dumps(cfg.prompt_ids), runs=cfg.runs, warmup=cfg.warmup, min_seconds=cfg.min_seconds, **precision,
            sampling="greedy" if cfg.temperature <= 0 else f"temperature {cfg.temperature}, seeded", **(cfg.limit.header() if cfg.limit else {}))
  md.update(bandwidth.header(cfg.device))  # measured once per host and cached; the first run measures it
  meter = energy.Meter(cfg.device)  # the GPU's and CPU's energy counters, where readable: the header says which, or why not
  md.update(meter.header())
  log.header(md)

  t0 = time.perf_counter()
  source = prepare.source_path(cfg.size, cfg.model, cfg.weights)
  path = prepare.quantized(source, cfg.quantize, cfg.threads, log=lambda m: say(cfg, m))
  info = modelfile.describe(path)
  log.header({"model_name": info.name, "model_file": path, "model_source_file": source, "model_sha256": info.sha256,
              "model_type": info.file_type, "model_arch": info.arch, "weights": "synthetic" if info.synthetic else "real",
              "n_params": info.n_params, "model_bytes": info.weight_bytes, "bits_per_weight": round(info.bits_per_weight, 3),
              "n_layers": info.n_layers, "n_kv_heads": info.n_kv_heads, "head_dim": info.head_dim,
              "tied_embeddings": int(info.tied_embeddings), "prepare_seconds": round(time.perf_counter() - t0, 3)})
  # tensors llama.cpp's quantizer stored in another type than asked, per type; absent for a file it did not make
  if (fallbacks := prepare.fallbacks(path)) is not None: log.header({"quantize_fallbacks": prepare.format_fallbacks(fallbacks)})
  say(cfg, f"model {path.name} ({info.file_type}, {info.weight_bytes / 1e6:.1f} MB)")

  # the limit holds from the backend's load on: preparing the file (quantizing, reading its header, loading the
  # tokenizer that writes the logged text) is harness work
  decode = Tokenizer(source).decode
  gc.collect()  # the GGUF reader's arrays
  backend = backends.get(cfg.backend)
  if hasattr(backend, "prepare"): backend.prepare()  # harness work too (llama.cpp's: compiling its C decode loop)
  stop = stopping(cfg)
  log.header({"rss_before_load_bytes": memory.proc_status_bytes("VmRSS"), "vm_before_load_bytes": memory.proc_status_bytes("VmSize")})
  if cfg.limit: memory.enter(cfg.limit)
  if hasattr(backend, "on_fatal"): backend.on_fatal(lambda reason: fatal(cfg, log, reason))
  device_peak = memory.DeviceSampler() if cfg.device == "cuda" else None
  engine = backend.load(cfg, path)
  pad = getattr(backend, "KV_PAD", 1)
  kv_ctx = -(-cfg.ctx // pad) * pad  # the positions the backend allocates per sequence
  kv = info.kv_bytes(kv_ctx * cfg.batch)
  log.header({"backend_version": engine.version, "backend_device": engine.device_name,
              "device_name": metadata.device_name(cfg.device),
              "knobs": knobs_text(engine.knobs), **engine.info, "kv_pad": pad, "kv_positions_per_sequence": kv_ctx, "predicted_kv_bytes": kv,
              # weights + KV cache of every sequence + the compute and output buffers the backend reported
              "predicted_bytes": info.weight_bytes + kv + sum(engine.info.get(f"{k}_buffer_bytes", 0) for k in ("compute", "output"))})
  say(cfg, f"loaded on {engine.device_name} " + ", ".join(f"{k}={v}" for k, v in engine.info.items() if k.endswith("seconds")))

  t0 = time.perf_counter()
  for _ in range(cfg.warmup): all(True for _ in engine.generate(cfg.prompt_ids, cfg.n_tokens))
  log.header({"warmup_seconds": round(time.perf_counter() - t0, 3), "peak_rss_bytes_load": memory.peak_rss_bytes()})

  measured, rates, why = 0.0, [], None
  while not why:
    r, ids, decode_s, decode_tokens = len(rates), [], 0.0, 0
    memory.reset_peak_rss()  # each run's own peak, without the load's (quantizing, reading the file)
    if device_peak: device_peak.reset()
    start = decode_start = meter.mark()
    cpu_start = contention.mark()
    for i, s in enumerate(engine.generate(cfg.prompt_ids, cfg.n_tokens)):
      ids.append(s.token_id)
      position = len(cfg.prompt_ids) + i - 1 if i else 0
      # every sequence reads the weights once between them, and its own KV cache
      least = info.prefill_bytes(s.n_tokens) if i == 0 else info.decode_bytes(position) + (cfg.batch - 1) * info.kv_bytes(position + 1)
      log.step(run=r, phase="decode" if i else "prefill", step=i, position=position, n_tokens=s.n_tokens, token_id=s.token_id,
               enqueue_latency_ms=round(s.enqueue_s * 1e3, 4), total_latency_ms=round(s.total_s * 1e3, 4),
               bytes_read=s.bytes_read, min_bytes_read=least, text="" if info.synthetic else decode(ids),
               **({"token_ids": list(s.token_ids)} if cfg.batch > 1 else {}))
      measured += s.total_s
      decode_s += s.total_s if i else 0.0
      decode_tokens += s.n_tokens if i else 0
      if i == 0: decode_start = meter.mark()  # the decode steps are computed after this (a C loop's all at once)
    joules = meter.totals(start, decode_start, meter.mark())
    other_cpu = contention.other_share(cpu_start, contention.mark())
    rates.append(decode_tokens / decode_s)  # the analysis's decode tok/s of the run: tokens over the sum of their times
    why = stop(rates, measured)
    # the backend's own account of its device memory (MLX's peak) wins over NVML's sampling
    totals = {**({"peak_device_bytes": device_peak.peak} if device_peak else {}), **engine.run_totals()}
    log.run(run=r, **totals, **joules, other_cpu_share=other_cpu, peak_rss_bytes=memory.peak_rss_bytes(), vm_size_bytes=memory.proc_status_bytes("VmSize"),
            **({"stopped_by": why} if why else {}))  # the last run line says why measuring stopped
    say(cfg, f"run {r + 1}/{cfg.max_runs or cfg.runs}: {cfg.n_tokens} decode steps at {rates[-1]:.1f} tok/s"
             + (f" ({cfg.batch} sequences)" if cfg.batch > 1 else "") + (f"; stopped by {why}" if why else ""))
  if device_peak: device_peak.close()
  meter.close()

def end_status(cfg: RunConfig, reason: str, error: BaseException | None = None) -> str:
  """The log's last line: under a memory limit, running out of it is a result, and says so."""
  oom = cfg.limit and (isinstance(error, MemoryError) or memory.OOM.search(reason))
  return cfg.limit.status(reason) if oom else f"failed: {reason}"

def fatal(cfg: RunConfig, log: LogWriter, reason: str):
  """The backend is about to end the process (a native abort): end the log now, and the process with it."""
  log.close(end_status(cfg, reason.replace("\n", " ")))
  os._exit(1)

# The runner stops a worker with SIGTERM (and it dies at once: the runner writes the status); this signal comes
# when the runner itself died, so the worker ends its own log.
PARENT_DIED = signal.SIGHUP

def main(argv: list[str]) -> int:
  cfg, log_path = RunConfig.from_settings(json.loads(argv[0])), Path(argv[1])
  log = LogWriter(log_path)
  if cfg.limit: memory.hold_reserve()
  try:
    with proc.stop_on(PARENT_DIED): run(cfg, log)
  except BaseException as e:  # noqa: BLE001 - any failure is recorded in the log, then reported by exit code
    memory.release_reserve()  # so that even out of memory the status can be written
    if files.full(e):  # no room for the status either: one line, which the runner puts in it or says instead
      print(files.cannot_write(e, log_path), file=sys.stderr)
      return 1
    reason = (f"{e}: the runner that started this worker ended" if isinstance(e, proc.Stopped) else
              f"{type(e).__name__}: {e}").replace("\n", " ")
    log.close(end_status(cfg, reason, e))
    say(cfg, f"FAILED: {reason}")
    # a model error says what to do; anything else gets its traceback, which the runner passes on
    if not isinstance(e, (formats.ModelError, proc.Stopped)): traceback.print_exc()
    return 1
  log.close("ok")
  return 0

if __name__ == "__main__": sys.exit(main(sys.argv[1:]))
