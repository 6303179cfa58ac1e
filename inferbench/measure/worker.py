"""One configuration, in its own process: resolve the model, load the backend, warm up, measure, log every step.

Run by the runner as `python -m inferbench.measure.worker CONFIG_JSON LOG_PATH`, so a crash or an out-of-memory kill
loses only this configuration. The log is written as the run goes; its last line says how it ended.
"""
from __future__ import annotations
import importlib.util
if importlib.util.find_spec("llama_cpp"): import llama_cpp.llama_cpp  # noqa: F401  libllama before numpy: see backends/llamacpp.py
import gc, json, os, signal, sys, time, traceback
from pathlib import Path
from inferbench import backends
from inferbench.core import memory, metadata, formats, proc
from inferbench.models import modelfile, prepare
from inferbench.measure import bandwidth
from inferbench.core.formats import knobs_text
from inferbench.backends.llamacpp import Tokenizer
from inferbench.store.rawlog import LogWriter
from inferbench.core.config import RunConfig


def say(cfg: RunConfig, msg: str): print(f"  [{cfg.label}] {msg}", file=sys.stderr, flush=True)

def run(cfg: RunConfig, log: LogWriter):
  md = metadata.collect_all()
  md.update(cfg.header(), prompt_token_ids=json.dumps(cfg.prompt_ids), runs=cfg.runs, warmup=cfg.warmup, min_seconds=cfg.min_seconds,
            sampling="greedy" if cfg.temperature <= 0 else f"temperature {cfg.temperature}, seeded", **(cfg.limit.header() if cfg.limit else {}))
  md.update(bandwidth.header(cfg.device))  # measured once per host and cached; the first run measures it
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

  measured, r = 0.0, 0
  while r < cfg.runs or measured < cfg.min_seconds:
    ids, decode_s = [], 0.0
    memory.reset_peak_rss()  # each run's own peak, without the load's (quantizing, reading the file)
    if device_peak: device_peak.reset()
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
    # the backend's own account of its device memory (MLX's peak) wins over NVML's sampling
    totals = {**({"peak_device_bytes": device_peak.peak} if device_peak else {}), **engine.run_totals()}
    log.run(run=r, **totals, peak_rss_bytes=memory.peak_rss_bytes(), vm_size_bytes=memory.proc_status_bytes("VmSize"))
    say(cfg, f"run {r + 1}/{cfg.runs}: {cfg.n_tokens} decode steps at {cfg.n_tokens * cfg.batch / decode_s:.1f} tok/s"
             + (f" ({cfg.batch} sequences)" if cfg.batch > 1 else ""))
    r += 1
  if device_peak: device_peak.close()

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
