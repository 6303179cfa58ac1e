"""One configuration, in its own process: resolve the model, load the backend, warm up, measure, log every step.

Run by the runner as `python -m inferbench.worker CONFIG_JSON LOG_PATH`, so a crash or an out-of-memory kill
loses only this configuration. The log is written as the run goes; its last line says how it ended.
"""
from __future__ import annotations
import importlib.util
if importlib.util.find_spec("llama_cpp"): import llama_cpp.llama_cpp  # noqa: F401  libllama before numpy: see backends/llamacpp.py
import json, signal, sys, time, traceback
from dataclasses import dataclass, field
from pathlib import Path
from . import backends, metadata, models, proc, roofline
from .backends.base import BackendConfig, knobs_text
from .backends.llamacpp import Tokenizer
from .rawlog import LogWriter

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
  pipeline: bool = True
  dtype: str = ""

  @property
  def label(self) -> str:
    return f"{self.backend} {self.size}{' (synthetic)' if self.weights == 'synthetic' else ''} {self.quantize} seed={self.seed}"

def say(cfg: RunConfig, msg: str): print(f"  [{cfg.label}] {msg}", file=sys.stderr, flush=True)

def run(cfg: RunConfig, log: LogWriter):
  md = metadata.collect_all()
  md.update(backend=cfg.backend, size=cfg.size, quantize=cfg.quantize, seed=cfg.seed, uuid=cfg.uuid, device=cfg.device,
            threads=cfg.threads, n_prompt_tokens=len(cfg.prompt_ids), prompt_token_ids=json.dumps(cfg.prompt_ids),
            n_decode_steps=cfg.n_tokens, runs=cfg.runs, warmup=cfg.warmup, min_seconds=cfg.min_seconds, ctx=cfg.ctx,
            temperature=cfg.temperature, sampling="greedy" if cfg.temperature <= 0 else f"temperature {cfg.temperature}, seeded")
  md.update(roofline.header(cfg.device))  # measured once per host and cached; the first run measures it
  log.header(md)

  t0 = time.perf_counter()
  source = models.source_path(cfg.size, cfg.model, cfg.weights)
  path = models.quantized(source, cfg.quantize, cfg.threads, log=lambda m: say(cfg, m))
  info = models.describe(path)
  log.header({"model_name": info.name, "model_file": path, "model_source_file": source, "model_sha256": info.sha256,
              "model_type": info.file_type, "model_arch": info.arch, "weights": "synthetic" if info.synthetic else "real",
              "n_params": info.n_params, "model_bytes": info.weight_bytes, "bits_per_weight": round(info.bits_per_weight, 3),
              "n_layers": info.n_layers, "n_kv_heads": info.n_kv_heads, "head_dim": info.head_dim,
              "tied_embeddings": int(info.tied_embeddings), "prepare_seconds": round(time.perf_counter() - t0, 3)})
  # tensors llama.cpp's quantizer stored in another type than asked, per type; absent for a file it did not make
  if (fallbacks := models.fallbacks(path)) is not None: log.header({"quantize_fallbacks": models.format_fallbacks(fallbacks)})
  say(cfg, f"model {path.name} ({info.file_type}, {info.weight_bytes / 1e6:.1f} MB)")

  backend = backends.get(cfg.backend)
  engine = backend.load(BackendConfig(model=path, device=cfg.device, threads=cfg.threads, ctx=cfg.ctx, seed=cfg.seed,
                                      temperature=cfg.temperature, beam=cfg.beam, flash_attn=cfg.flash_attn,
                                      pipeline=cfg.pipeline, dtype=cfg.dtype))
  log.header({"backend_version": engine.version, "backend_device": engine.device_name,
              "device_name": metadata.device_name(cfg.device),
              "knobs": knobs_text(engine.knobs), **engine.info})
  say(cfg, f"loaded on {engine.device_name} " + ", ".join(f"{k}={v}" for k, v in engine.info.items() if k.endswith("seconds")))

  decode = Tokenizer(source).decode
  t0 = time.perf_counter()
  for _ in range(cfg.warmup): all(True for _ in engine.generate(cfg.prompt_ids, cfg.n_tokens))
  log.header({"warmup_seconds": round(time.perf_counter() - t0, 3)})

  measured, r = 0.0, 0
  while r < cfg.runs or measured < cfg.min_seconds:
    ids, decode_s = [], 0.0
    for i, s in enumerate(engine.generate(cfg.prompt_ids, cfg.n_tokens)):
      ids.append(s.token_id)
      position = len(cfg.prompt_ids) + i - 1 if i else 0
      log.step(run=r, phase="decode" if i else "prefill", step=i, position=position, n_tokens=s.n_tokens, token_id=s.token_id,
               enqueue_latency_ms=round(s.enqueue_s * 1e3, 4), total_latency_ms=round(s.total_s * 1e3, 4),
               bytes_read=s.bytes_read, min_bytes_read=info.prefill_bytes(s.n_tokens) if i == 0 else info.decode_bytes(position),
               text="" if info.synthetic else decode(ids))
      measured += s.total_s
      decode_s += s.total_s if i else 0.0
    log.run(run=r, **engine.run_totals())
    say(cfg, f"run {r + 1}/{cfg.runs}: {cfg.n_tokens} decode steps at {cfg.n_tokens / decode_s:.1f} tok/s")
    r += 1

# The runner stops a worker with SIGTERM (and it dies at once: the runner writes the status); this signal comes
# when the runner itself died, so the worker ends its own log.
PARENT_DIED = signal.SIGHUP

def main(argv: list[str]) -> int:
  cfg, log_path = RunConfig(**json.loads(argv[0])), Path(argv[1])
  log = LogWriter(log_path)
  try:
    with proc.stop_on(PARENT_DIED): run(cfg, log)
  except BaseException as e:  # noqa: BLE001 - any failure is recorded in the log, then reported by exit code
    reason = (f"{e}: the runner that started this worker ended" if isinstance(e, proc.Stopped) else
              f"{type(e).__name__}: {e}").replace("\n", " ")
    log.close(f"failed: {reason}")
    say(cfg, f"FAILED: {reason}")
    # a model error says what to do; anything else gets its traceback, which the runner passes on
    if not isinstance(e, (models.ModelError, proc.Stopped)): traceback.print_exc()
    return 1
  log.close("ok")
  return 0

if __name__ == "__main__": sys.exit(main(sys.argv[1:]))
