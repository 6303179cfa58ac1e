"""How far a quantized GGUF's predictions are from a reference's (its F16), from llama.cpp's logits at every position
of a fixed text: perplexity, KL divergence of the next-token distribution from the reference's, top-1 agreement.
A backend's own quantization (MLX's mlx-q*, PyTorch's torchao-*), which llama.cpp cannot read, is scored from that
backend's logits (engine="mlx", "torch") against the same backend's logits of the same F16 reference, so the comparison
measures the quantization, not the engine.

The text is split into windows of `ctx` tokens, each evaluated from an empty KV cache in one batch with logits for
every position; position i predicts token i+1, so a window scores ctx-1 predictions. The reference's logits are
computed once and cached as .npy beside the models, keyed by everything that determines them.
"""
from __future__ import annotations
import hashlib, io, json, os
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
import numpy as np
from inferbench import backends
from inferbench.core import files
from inferbench.backends.llamacpp import Tokenizer, llama_lib, load_model

# CPython's LICENSE.txt (its history and licenses), shipped in the standard library's folder of every CPython:
# offline, and lawful to use. Its sha256 goes into every result, since another Python may ship another revision.
TEXT_PATH = Path(os.__file__).parent / "LICENSE.txt"

@dataclass(frozen=True)
class Text:
  source: str
  sha256: str
  ids: tuple[int, ...]  # the first n_tokens of the text, as the model's tokenizer encodes it

@dataclass(frozen=True)
class Quality:
  perplexity: float
  kl_mean: float
  kl_p99: float
  top1_agreement: float
  n_scored: int  # predictions behind each number: windows * (ctx - 1)

def text(model: Path, n_tokens: int, ctx: int, path: Path = TEXT_PATH) -> Text:
  if not 2 <= ctx <= n_tokens or n_tokens % ctx: raise ValueError(f"quality tokens ({n_tokens}) must be a multiple of the quality context ({ctx}), which must be >= 2")
  raw = path.read_bytes()
  ids = Tokenizer(model).encode(raw.decode())
  if len(ids) < n_tokens: raise ValueError(f"{path} has only {len(ids)} tokens, fewer than the {n_tokens} asked for: lower --quality-tokens")
  return Text(str(path), hashlib.sha256(raw).hexdigest(), tuple(ids[:n_tokens]))

# the engines that compute logits, and the packages that decide them (the reference cache's key)
ENGINES = {"llamacpp": ("llama_cpp_python",), "mlx": ("mlx",), "torch": ("torch", "transformers")}

def logits(model: Path, txt: Text, ctx: int, threads: int, engine: str = "llamacpp") -> np.ndarray:
  """(windows * (ctx-1), vocab) float32: the logits of every position that has a next token inside its window."""
  if engine != "llamacpp": return backends.get(engine).logits(model, list(txt.ids), ctx)
  lib = llama_lib()
  m = load_model(model)
  params = lib.llama_context_default_params()
  params.n_ctx = params.n_batch = params.n_ubatch = ctx
  params.n_threads = params.n_threads_batch = threads
  c = lib.llama_init_from_model(m, params)
  if not c: raise RuntimeError(f"llama.cpp could not create a context of {ctx} tokens")
  batch = lib.llama_batch_init(ctx, 0, 1)
  n_vocab = lib.llama_vocab_n_tokens(lib.llama_model_get_vocab(m))
  out = []
  try:
    for w in range(len(txt.ids) // ctx):
      lib.llama_memory_clear(lib.llama_get_memory(c), True)  # each window from an empty cache
      batch.n_tokens = ctx
      for i, t in enumerate(txt.ids[w * ctx:(w + 1) * ctx]):
        batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.seq_id[i][0], batch.logits[i] = t, i, 1, 0, True
      if rc := lib.llama_decode(c, batch): raise RuntimeError(f"llama_decode failed with code {rc}")
      out.append(np.ctypeslib.as_array(lib.llama_get_logits(c), shape=(ctx, n_vocab))[:-1].copy())
  finally:
    lib.llama_batch_free(batch); lib.llama_free(c); lib.llama_model_free(m)
  return np.concatenate(out)

def targets(txt: Text, ctx: int) -> np.ndarray:
  """The token each row of logits() predicts."""
  return np.concatenate([np.asarray(txt.ids[w * ctx + 1:(w + 1) * ctx]) for w in range(len(txt.ids) // ctx)])

def engine_version(engine: str) -> dict: return {p: version(p) for p in ENGINES[engine]}

def reference_logits(model: Path, txt: Text, ctx: int, threads: int, log=print, engine: str = "llamacpp") -> np.ndarray:
  """The reference's logits, cached under the models folder by model sha256, text sha256, tokens, ctx and the engine's version."""
  key = {"model_sha256": files.file_sha256(model), "text_sha256": txt.sha256, "n_tokens": len(txt.ids), "ctx": ctx, **engine_version(engine)}
  path = files.CACHE / "quality" / (hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24] + ".npy")
  if path.is_file(): return np.load(path, mmap_mode="r")
  log(f"reference logits of {model.name} on {len(txt.ids)} tokens (cached in {path})")
  x = logits(model, txt, ctx, threads, engine)
  buf = io.BytesIO()
  np.save(buf, x)
  files.atomic_write(path, buf.getvalue())
  files.atomic_write(path.with_suffix(".json"), json.dumps({**key, "model": str(model), "text": txt.source}, indent=1))
  return x

def log_softmax(x: np.ndarray) -> np.ndarray:
  x = np.asarray(x, dtype=np.float64)
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))

def compare(ref: np.ndarray, x: np.ndarray, tgt: np.ndarray, rows: int = 256) -> Quality:
  """Perplexity of x on the targets, and per-position KL(ref || x) and argmax agreement, in chunks to bound memory."""
  assert ref.shape == x.shape and len(tgt) == len(x), f"logits {ref.shape} vs {x.shape}, {len(tgt)} targets"
  nll, kl, same = [], [], []
  for s in range(0, len(x), rows):
    lp, lq = log_softmax(ref[s:s + rows]), log_softmax(x[s:s + rows])
    nll.append(-lq[np.arange(len(lq)), tgt[s:s + rows]])
    kl.append((np.exp(lp) * (lp - lq)).sum(-1))
    same.append(lp.argmax(-1) == lq.argmax(-1))
  nll, kl, same = np.concatenate(nll), np.concatenate(kl), np.concatenate(same)
  return Quality(perplexity=float(np.exp(nll.mean())), kl_mean=float(kl.mean()), kl_p99=float(np.percentile(kl, 99)),
                 top1_agreement=float(same.mean()), n_scored=len(x))
