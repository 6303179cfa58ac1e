"""MLC-LLM in-process, through its MLCEngine's OpenAI-style completions API (a streaming engine, as in endpoint.py).

NOT RUNNABLE on machines without MLC's wheels: `mlc-llm` on PyPI is a placeholder, and the real packages come
only from MLC's own index. Where they are installed, a model is prepared as MLC documents it, once, into the
model cache: `mlc_llm convert_weight` (quantize the Hugging Face safetensors with MLC's own scheme),
`mlc_llm gen_config` (mlc-chat-config.json and the tokenizer) and `mlc_llm compile` (the model library for the
device). Without the wheels, `mlc_llm serve` elsewhere plus endpoint mode measures the same engine over HTTP.
"""
from __future__ import annotations
import subprocess, sys, time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from inferbench.backends.base import knob
from inferbench.core import files, formats
from inferbench.core.config import RunConfig

QUANTIZATIONS = ("q4f16_1", "q4f32_1", "q0f16", "q0f32")  # MLC's names: q{weight bits}f{activation bits}, _1 = group quantization
# MLC converts the original safetensors, not GGUF: the Hugging Face repo each registry model was published as
SAFETENSORS = {"SmolLM2-135M-Instruct": "HuggingFaceTB/SmolLM2-135M-Instruct", "SmolLM2-360M-Instruct": "HuggingFaceTB/SmolLM2-360M-Instruct",
               "SmolLM2-1.7B-Instruct": "HuggingFaceTB/SmolLM2-1.7B-Instruct", "Llama-3.2-1B-Instruct": "meta-llama/Llama-3.2-1B-Instruct",
               "Llama-3.2-3B-Instruct": "meta-llama/Llama-3.2-3B-Instruct", "Llama-3.1-8B-Instruct": "meta-llama/Llama-3.1-8B-Instruct"}
# gen_config wants a chat template; completions with a raw prompt (what is timed here) do not use it
CONV_TEMPLATES = {"SmolLM2": "chatml", "Llama": "llama-3_1"}
INSTALL = ("mlc_llm is not installed: MLC ships its wheels only on its own index, e.g. "
           "`pip install --pre -f https://mlc.ai/wheels mlc-llm-nightly-cpu mlc-ai-nightly-cpu` (see https://llm.mlc.ai/docs/install/mlc_llm.html); "
           "or run `mlc_llm serve` where it is installed and use --endpoint URL")

@dataclass(frozen=True)
class Knobs:
  engine_mode: str = knob("local", "MLCEngine's mode: local (small batch), interactive (batch 1) or server", ("local", "interactive", "server"))

def check() -> str:
  """mlc_llm's version, or a ValueError with the one-line install hint."""
  try: import mlc_llm
  except ImportError: raise ValueError(INSTALL) from None
  return getattr(mlc_llm, "__version__", "unknown")

def check_quantize(q: str):
  if q not in QUANTIZATIONS: raise ValueError(f"unknown MLC quantization {q!r}: use one of {', '.join(QUANTIZATIONS)}")

def _mlc(*args, log=print):
  cmd = [sys.executable, "-m", "mlc_llm", *map(str, args)]
  log(" ".join(cmd))
  out = subprocess.run(cmd, capture_output=True, text=True)
  if out.returncode: raise RuntimeError(f"mlc_llm {args[0]} failed (code {out.returncode}): {out.stderr.strip().splitlines()[-1:] or ''}")

def prepare(cfg: RunConfig, log=print) -> tuple[Path, Path]:
  """The converted weights folder and the compiled model library, made once and cached."""
  name = formats.check_size(cfg.size).name
  out = files.CACHE / "mlc" / f"{name}-{cfg.quantize}-MLC"
  lib = out / f"{name}-{cfg.quantize}-{cfg.device}.so"
  if not (out / "mlc-chat-config.json").is_file():
    from huggingface_hub import snapshot_download
    hf = snapshot_download(SAFETENSORS[name], cache_dir=files.CACHE / "hub", allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"])
    _mlc("convert_weight", hf, "--quantization", cfg.quantize, "--device", cfg.device, "-o", out, log=log)
    _mlc("gen_config", hf, "--quantization", cfg.quantize, "--conv-template", CONV_TEMPLATES[name.split("-")[0]], "-o", out, log=log)
  if not lib.is_file(): _mlc("compile", out / "mlc-chat-config.json", "--device", cfg.device, "-o", lib, log=log)
  return out, lib

class MLCStreamEngine:
  def __init__(self, cfg: RunConfig, log=print):
    self.version = check()
    from mlc_llm import MLCEngine
    t0 = time.perf_counter()
    self.model, lib = prepare(cfg, log)
    prepare_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    self.engine = MLCEngine(str(self.model), device=cfg.device, model_lib=str(lib), mode=Knobs(**cfg.knobs).engine_mode)
    self.server_name, self.models, self.device_name = "mlc", [str(self.model)], cfg.device
    self.knobs = {}
    self.info = {"prepare_seconds": round(prepare_s, 3), "load_seconds": round(time.perf_counter() - t0, 3),
                 "mlc.mode": Knobs(**cfg.knobs).engine_mode, "mlc.model_lib": lib.name, "mlc.quantization": cfg.quantize}

  def stream(self, body: dict) -> Iterator[dict | None]:
    """The same request body as over HTTP; MLC takes its extensions (debug_config) through extra_body."""
    extra = {k: body[k] for k in ("debug_config",) if k in body}
    it = self.engine.completions.create(**{k: v for k, v in body.items() if k not in extra}, extra_body=extra or None)
    yield None
    for chunk in it if body.get("stream") else [it]: yield chunk.model_dump()

  def close(self): self.engine.terminate()

def load(cfg: RunConfig, log=print) -> MLCStreamEngine: return MLCStreamEngine(cfg, log)
