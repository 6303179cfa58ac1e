"""llama.cpp in-process, through llama-cpp-python's C API bindings.

The bindings' high-level `Llama` class copies every logit row into Python on each step; calling llama_decode and
reading the last logits row in place keeps the harness within a few percent of llama.cpp's own timers, which
run_totals() reports so each run can be checked against them.

libllama must be loaded before numpy: on the H100 machine (Python 3.12, numpy 2.5.2) llama.cpp's BPE tokenizer
segfaulted inside std::regex whenever numpy had been imported first (seen 2026-11-22, cause not established), so
the runner and the worker import llama_cpp.llama_cpp before anything imports numpy. The same process must not
import torch after it ("free(): invalid pointer"), so the bandwidth measurement runs in its own process.
"""
from __future__ import annotations
import ctypes, functools, time
from importlib.metadata import version
from pathlib import Path
from typing import Iterator
import numpy as np
from .base import BackendConfig, Step

@functools.cache
def llama_lib():
  """llama-cpp-python's C API, initialized once, with llama.cpp's own logging reduced to errors."""
  import llama_cpp
  from llama_cpp._logger import set_verbose
  set_verbose(False)  # llama.cpp logs every tensor at load; keep errors only
  llama_cpp.llama_backend_init()
  return llama_cpp

def load_model(path: Path, n_gpu_layers: int = 0, vocab_only: bool = False):
  lib = llama_lib()
  params = lib.llama_model_default_params()
  params.n_gpu_layers, params.vocab_only = n_gpu_layers, vocab_only
  model = lib.llama_model_load_from_file(str(path).encode(), params)
  if not model: raise ValueError(f"llama.cpp could not load {path}: is it a complete GGUF of an architecture llama.cpp knows?")
  return model

class Tokenizer:
  """The model's own tokenizer, as llama.cpp implements it (tinygrad's rejects some pre-tokenizers, e.g. SmolLM2's).
  Both backends are given the token ids this produces."""
  def __init__(self, path: Path):
    self.lib = llama_lib()
    self.model = load_model(path, vocab_only=True)
    self.vocab = self.lib.llama_model_get_vocab(self.model)

  def encode(self, text: str, special: bool = False) -> list[int]:
    """special: control tokens written as text (a chat template's <|im_start|>) become those tokens."""
    raw = text.encode()
    buf = (self.lib.llama_token * (len(raw) + 8))()
    n = self.lib.llama_tokenize(self.vocab, raw, len(raw), buf, len(buf), True, special)
    assert n >= 0, f"tokenizer needed {-n} slots"
    return list(buf[:n])

  def decode(self, ids: list[int]) -> str:
    toks = (self.lib.llama_token * len(ids))(*ids)
    size = 16 * len(ids) + 16
    while True:
      buf = ctypes.create_string_buffer(size)
      n = self.lib.llama_detokenize(self.vocab, toks, len(ids), buf, size, True, False)
      if n >= 0: return buf.raw[:n].decode(errors="replace")
      size = -n + 1

  def __del__(self):
    if getattr(self, "model", None): self.lib.llama_model_free(self.model)

class LlamaCppEngine:
  def __init__(self, cfg: BackendConfig):
    lib = self.lib = llama_lib()
    if cfg.device == "cuda" and not lib.llama_supports_gpu_offload():
      raise RuntimeError("this llama-cpp-python was built without CUDA: rebuild it with deps/build_llamacpp_cuda.sh, or use --device cpu")
    self.version = version("llama_cpp_python")
    t0 = time.perf_counter()
    self.model = load_model(cfg.model, n_gpu_layers=-1 if cfg.device == "cuda" else 0)
    params = lib.llama_context_default_params()
    params.n_ctx = params.n_batch = params.n_ubatch = cfg.ctx  # the whole prompt in one batch
    params.n_threads = params.n_threads_batch = cfg.threads
    params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_ENABLED if cfg.flash_attn else lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
    params.no_perf = False
    self.ctx = lib.llama_init_from_model(self.model, params)
    if not self.ctx: raise RuntimeError(f"llama.cpp could not create a context of {cfg.ctx} tokens: lower --ctx")
    self.n_ctx = cfg.ctx
    self.n_vocab = lib.llama_vocab_n_tokens(lib.llama_model_get_vocab(self.model))
    self.batch = lib.llama_batch_init(cfg.ctx, 0, 1)
    self.temperature, self.rng = cfg.temperature, np.random.default_rng(cfg.seed)
    self.device_name = "CUDA" if cfg.device == "cuda" else "CPU"
    self.knobs = {"flash_attn": "on" if cfg.flash_attn else "off"}
    self.info = {"load_seconds": round(time.perf_counter() - t0, 3), "llamacpp.flash_attn": int(cfg.flash_attn),
                 "llamacpp.n_gpu_layers": "all" if cfg.device == "cuda" else 0, "llamacpp.sampling": "harness (numpy)",
                 "llamacpp.system_info": lib.llama_print_system_info().decode(errors="replace").strip()}

  def _decode(self, ids: list[int], pos: int) -> tuple[int, float, float]:
    """Runs ids at positions pos.., returns (next token, seconds until llama_decode returned, seconds until sampled)."""
    b = self.batch
    b.n_tokens = len(ids)
    for i, t in enumerate(ids):
      b.token[i], b.pos[i], b.n_seq_id[i], b.seq_id[i][0], b.logits[i] = t, pos + i, 1, 0, i == len(ids) - 1
    t0 = time.perf_counter()
    if rc := self.lib.llama_decode(self.ctx, b): raise RuntimeError(f"llama_decode failed with code {rc}")
    t1 = time.perf_counter()
    logits = np.ctypeslib.as_array(self.lib.llama_get_logits_ith(self.ctx, -1), shape=(self.n_vocab,))
    token = sample(logits, self.temperature, self.rng)
    return token, t1 - t0, time.perf_counter() - t0

  def generate(self, prompt_ids: list[int], n_decode: int) -> Iterator[Step]:
    if len(prompt_ids) + n_decode > self.n_ctx:
      raise ValueError(f"prompt ({len(prompt_ids)}) + {n_decode} tokens exceed the context of {self.n_ctx}: raise --ctx")
    self.lib.llama_memory_clear(self.lib.llama_get_memory(self.ctx), True)  # fresh KV cache: every run starts cold
    self.lib.llama_perf_context_reset(self.ctx)
    token, enqueue, total = self._decode(prompt_ids, 0)
    yield Step(token, len(prompt_ids), enqueue, total)
    for i in range(n_decode):
      token, enqueue, total = self._decode([token], len(prompt_ids) + i)
      yield Step(token, 1, enqueue, total)

  def run_totals(self) -> dict:
    p = self.lib.llama_perf_context(self.ctx)
    return {"internal_prefill_ms": p.t_p_eval_ms, "internal_decode_ms": p.t_eval_ms,
            "internal_prefill_tokens": p.n_p_eval, "internal_decode_steps": p.n_eval}

def sample(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
  if temperature <= 0: return int(np.argmax(logits))
  z = logits.astype(np.float64) / temperature
  p = np.exp(z - z.max())
  return int(rng.choice(len(p), p=p / p.sum()))

def load(cfg: BackendConfig) -> LlamaCppEngine: return LlamaCppEngine(cfg)
