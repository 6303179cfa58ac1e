"""MLX through mlx-lm: mlx-lm's llama model code and KV cache, run the way mlx-lm's generate_step runs them.

Weights come from the very GGUF files the other backends read, by one of three paths (the header's mlx.weights):
  native       F32, F16, Q4_0, Q4_1 and Q8_0 through mx.load, which hands quantized tensors over as MLX affine
               weight/scales/biases triples (group size 32), so a Q4_1 file runs as MLX 4-bit quantized matmuls
  dequantized  any other type (the K-quants) through gguf's numpy dequantizer, then loaded as F16
  mlx          MLX's own affine quantization (--quantize mlx-q4 ...): an mlx-lm model folder that quantize() makes
               once from the most precise GGUF at hand, loaded by mlx-lm's own loader
GGUF tensor names map to mlx-lm's, and the Q and K rows are put back in the Hugging Face order: llama.cpp's converter
interleaves each head's two rotary halves for its RoPE, and transformers' GGUF loader undoes it the same way.

Timing. MLX is lazy: a step's graph costs little to build and runs at mx.eval. mlx-lm's generate_step pipelines: it
builds and async_evals step i+1 before it waits for token i, so graph building overlaps the computation. With
pipeline on (the default and the headline, as mlx-lm generates and as its own benchmark counts), a step's
total_latency_ms runs from the previous token reaching the host to this one reaching it (the steps sum to the run's
wall time) and enqueue_latency_ms until the next step's graph was built and queued. With pipeline off each step is
built, evaluated and read alone: enqueue_latency_ms until its graph is built, total_latency_ms until mx.eval put
its token on the host; that shows the per-step cost without the overlap. Seen on the CPU (mlx 0.32.4): pipelined,
enqueue is nearly the whole step, because mx.async_eval returned only once the previous step was nearly done (MLX
caps the operations in flight, and on the CPU each is one task); synchronously, building a step's graph took ~2%.
"""
from __future__ import annotations
import contextlib, io, json, os, shutil, time
from importlib.metadata import version
from pathlib import Path
from typing import Iterator
import numpy as np
from inferbench.core.formats import FTYPES, ModelError, mlx_quant
from dataclasses import dataclass
from inferbench.backends.base import Step, knob
from inferbench.core.config import RunConfig

ARCHS = ("llama",)                                 # GGUF architectures this maps onto mlx-lm's model code
NATIVE = ("F32", "F16", "Q4_0", "Q4_1", "Q8_0")    # GGUF tensor types mx.load reads itself
KEPT_QUANTIZED = ("Q4_0", "Q4_1", "Q8_0")            # of those, computed on as stored (MLX affine), not as --dtype copies
GGUF_GROUP = 32                                    # mx.load's quantized GGUF tensors: 32 weights per scale and bias
INSTALL = "pip install mlx==0.32.4 mlx-lm==0.32.2 plus mlx-cpu==0.32.4 (CPU) or mlx-cuda-13==0.32.4 (NVIDIA), as deps/requirements.txt pins"
QUANTIZE_HELP = ": the GGUF files the other backends read; or MLX's own affine quantization mlx-q4, mlx-q8, mlx-q4-g32 (bits 2-8, group size 32/64/128)"
NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
BLOCK = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
         "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm", "ffn_gate": "mlp.gate_proj",
         "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}

@dataclass(frozen=True)
class Knobs:
  pipeline: bool = knob(True, "on: queue the next step before reading this token, as mlx-lm's generate_step (the headline); "
                              "off: each step built, evaluated and read alone")
  dtype: str = knob("", "the compute dtype of the floating weights and activations (default: float32 on the CPU, float16 on a GPU)",
                    ("float32", "float16", "bfloat16"))

def core():
  """mlx.core, or a one-line error saying how to install it."""
  try:
    import mlx.core as mx
    import mlx_lm  # noqa: F401
  except ImportError as e: raise ModelError(f"MLX is not installed ({e}): {INSTALL}") from e
  return mx

def mlx_name(name: str) -> str:
  """GGUF tensor name -> mlx-lm's: "blk.3.attn_q.scales" -> "model.layers.3.self_attn.q_proj.scales"."""
  stem, _, kind = name.rpartition(".")
  part = BLOCK.get(stem.split(".", 2)[-1]) if stem.startswith("blk.") else NAMES.get(stem)
  if part is None: raise ModelError(f"GGUF tensor {name} has no counterpart in mlx-lm's llama model")
  return f"model.layers.{stem.split('.')[1]}.{part}.{kind}" if stem.startswith("blk.") else f"{part}.{kind}"

def unpermute(w, n_heads: int):
  """Undoes llama.cpp's converter, which stores each head's rows as w.reshape(n_heads, 2, d/2, ...).swapaxes(1, 2)."""
  return w.reshape(n_heads, w.shape[0] // n_heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

def scalar(v):
  """A GGUF metadata value as Python: mx.load gives 0-d arrays, gguf's reader plain values."""
  return v.item() if hasattr(v, "item") else v

def config(md: dict, weights: dict, path: Path) -> dict:
  """mlx-lm's config.json for a GGUF, from its metadata."""
  arch = md.get("general.architecture")
  if arch not in ARCHS: raise ModelError(f"{path}: GGUF architecture {arch!r} is not one the MLX backend maps to mlx-lm: supported: {', '.join(ARCHS)}")
  get = lambda key, default=None: scalar(md.get(f"{arch}.{key}", default))
  dim, n_heads = get("embedding_length"), get("attention.head_count")
  return {"model_type": "llama", "hidden_size": dim, "num_hidden_layers": get("block_count"), "intermediate_size": get("feed_forward_length"),
          "num_attention_heads": n_heads, "num_key_value_heads": get("attention.head_count_kv", n_heads),
          "head_dim": get("attention.key_length", dim // n_heads), "rms_norm_eps": get("attention.layer_norm_rms_epsilon"),
          "rope_theta": get("rope.freq_base", 10000.0), "max_position_embeddings": get("context_length"),
          "vocab_size": weights["token_embd.weight"].shape[0], "tie_word_embeddings": "output.weight" not in weights}

def read_gguf(path: Path) -> tuple[dict, dict, str]:
  """(metadata, GGUF-named arrays, which path was taken): mx.load where it reads every tensor type, else gguf's
  numpy dequantizer to F16 (norms stay F32, as mx.load and llama.cpp keep them)."""
  mx = core()
  try:
    weights, md = mx.load(str(path), return_metadata=True)
    ftype = next((k for k, v in FTYPES.items() if v == scalar(md.get("general.file_type"))), "unknown")
    return md, weights, f"native: mx.load (file type {ftype}; quantized tensors as MLX affine, group size {GGUF_GROUP})"
  except RuntimeError: pass  # a tensor type mx.load does not read: gguf's reader names it
  from gguf import GGUFReader
  from gguf.quants import dequantize
  try: r = GGUFReader(path)
  except Exception as e: raise ModelError(f"{path} is not a readable GGUF file ({e}): re-download or re-create it") from e
  md = {f.name: f.contents() for f in r.fields.values() if not f.name.startswith("tokenizer.")}
  weights = {}
  for t in r.tensors:
    try: a = dequantize(t.data, t.tensor_type)
    except NotImplementedError as e:
      raise ModelError(f"{path}: tensor {t.name} is GGUF type {t.tensor_type.name}, which neither mx.load ({', '.join(NATIVE)}) "
                       f"nor gguf's dequantizer reads: re-quantize the model to one of those types") from e
    weights[t.name] = mx.array(a.astype(np.float32 if a.ndim == 1 else np.float16))
  other = sorted({t.tensor_type.name for t in r.tensors} - set(NATIVE))
  return md, weights, f"dequantized to F16 by gguf's numpy dequantizer ({', '.join(other)}: types mx.load does not read)"

def load_gguf(path: Path):
  """mlx-lm's llama model with the GGUF's weights; returns (model, config, which path was taken)."""
  mx = core()
  import mlx.nn as nn
  from mlx_lm.models import llama
  md, raw, how = read_gguf(path)
  cfg = config(md, raw, path)
  heads = {"attn_q": cfg["num_attention_heads"], "attn_k": cfg["num_key_value_heads"]}
  weights = {mlx_name(k): unpermute(v, heads[k.split(".")[2]]) if k.startswith("blk.") and k.split(".")[2] in heads else v
             for k, v in raw.items()}
  model = llama.Model(llama.ModelArgs.from_dict(cfg))
  def quantized(p: str, _) -> dict | bool:  # a layer that came with scales is an MLX quantized layer of the same bits
    if f"{p}.scales" not in weights: return False
    return {"group_size": GGUF_GROUP, "bits": weights[f"{p}.weight"].shape[-1] * 32 // (weights[f"{p}.scales"].shape[-1] * GGUF_GROUP)}
  nn.quantize(model, class_predicate=quantized)
  model.load_weights(list(weights.items()))  # strict: every parameter given, none left over
  mx.eval(model.parameters())
  return model, cfg, how

def load_model(path: Path):
  """(model, how) for a GGUF or for an mlx-lm folder's model.safetensors (see quantize)."""
  if Path(path).suffix != ".safetensors":
    model, _, how = load_gguf(path)
    return model, how
  core()
  from mlx_lm.utils import load_model as mlx_lm_load
  model, cfg = mlx_lm_load(Path(path).parent)
  q = cfg["quantization"]
  return model, f"mlx: mlx-lm model folder, MLX affine {q['bits']}-bit, group size {q['group_size']}, made from {cfg['inferbench']['source']}"

def quantized_path(out: Path) -> Path: return out / "model.safetensors"

def quantize(base: Path, out: Path, name: str, provenance: dict) -> Path:
  """MLX's affine quantization `name` (mlx-q4-g64: mlx-lm's quantize_model, as mlx_lm.convert -q does) of a GGUF,
  saved as an mlx-lm model folder; `provenance` (the base's description for modelfile.describe_mlx) goes into its
  config.json."""
  from mlx_lm.utils import quantize_model, save_config, save_model
  bits, group_size = mlx_quant(name)
  mx = core()
  model, cfg, how = load_gguf(base)
  model.set_dtype(mx.float32)  # quantized in float32 (MLX's CPU is slow in half precision), then stored as mlx-lm's models are:
  with contextlib.redirect_stdout(io.StringIO()): model, cfg = quantize_model(model, cfg, group_size, bits)  # its bits/weight print is of the float32 copy
  model.set_dtype(mx.float16)  # float16 scales, biases and norms
  tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
  shutil.rmtree(tmp, ignore_errors=True)
  save_model(tmp, model)
  save_config({**cfg, "inferbench": {"source": Path(base).name, "source_weights": how, **provenance}}, tmp / "config.json")
  try: os.replace(tmp, out)
  except OSError:  # another process made it first
    shutil.rmtree(tmp, ignore_errors=True)
    if not out.is_dir(): raise
  return quantized_path(out)

def logits(path: Path, ids: list[int], ctx: int) -> np.ndarray:
  """(windows * (ctx-1), vocab) float32, as quality.logits: each window of ctx tokens from an empty cache, computed in
  float32 (the quantized weights' scales and biases upcast exactly)."""
  mx = core()
  model, _ = load_model(path)
  model.set_dtype(mx.float32)
  out = [np.array(model(mx.array(ids[w * ctx:(w + 1) * ctx])[None])[0, :-1].astype(mx.float32)) for w in range(len(ids) // ctx)]
  return np.concatenate(out)

class MLXEngine:
  def __init__(self, cfg: RunConfig, model: Path):
    knobs = Knobs(**cfg.knobs)
    mx = self.mx = core()
    from mlx_lm.models.cache import make_prompt_cache
    from mlx_lm.sample_utils import make_sampler
    if cfg.device == "cuda" and not mx.is_available(mx.gpu):
      raise ModelError(f"--device cuda, but this MLX ({mx.__version__}) has no GPU backend: install mlx-cuda-13==0.32.4 "
                       "(pip install 'mlx[cuda13]==0.32.4', CUDA 13 libraries on LD_LIBRARY_PATH; see docs/results/run_gpu_mlx.sh), or use --device cpu")
    device = mx.Device(mx.gpu if cfg.device == "cuda" else mx.cpu)  # --device cuda is MLX's gpu device
    mx.set_default_device(device)
    self.stream = mx.new_thread_local_stream(device)  # generation on its own stream, as mlx-lm's generation_stream
    mx.random.seed(cfg.seed)             # --temperature samples through mx.random
    self.version, self.device_name, self.ctx, self.pipeline = mx.__version__, device.type.name, cfg.ctx, knobs.pipeline
    # MLX's x86 CPU kernels have no fast half precision: a 4-bit quantized matvec with float16 scales and activations
    # measured 40-120x slower than with float32 here (mlx 0.32.4), so the CPU computes in float32 unless told otherwise
    dtype = knobs.dtype or ("float16" if cfg.device == "cuda" else "float32")
    self.sampler = make_sampler(cfg.temperature)  # mlx-lm's: argmax at temperature 0
    self.make_cache = make_prompt_cache
    t0 = time.perf_counter()
    self.model, how = load_model(model)
    self.model.set_dtype(getattr(mx, dtype))  # floating parameters only: packed quantized weights stay as they are
    self.knobs = {"pipeline": "on" if knobs.pipeline else "off", "dtype": dtype}
    self.info = {"load_seconds": round(time.perf_counter() - t0, 3), "mlx.weights": how, "mlx.pipeline": int(knobs.pipeline), "mlx.dtype": dtype,
                 "mlx.device": str(device), "mlx.device_info": json.dumps(mx.device_info()), "mlx.mlx_lm": version("mlx-lm"),
                 # seen here: one core busy while it decodes; MLX has no thread setting, so --threads does not apply
                 **({"mlx.cpu_threads": "1: MLX's CPU stream runs its operations on one thread"} if cfg.device != "cuda" else {}),
                 "mlx.timing": "pipelined as mlx-lm's generate_step (async_eval of the next step before reading this token): "
                               "total = token-to-token time" if knobs.pipeline else "synchronous: each step built, evaluated and read alone"}

  def _step(self, tokens, cache) -> tuple:
    """mlx-lm's generate_step._step: the logits of the last position, log-softmax, then the sampler; (token, logprobs)."""
    mx = self.mx
    with mx.stream(self.stream):
      logits = self.model(tokens[None], cache=cache)[:, -1, :]
      logprobs = logits - mx.logsumexp(logits, keepdims=True)
      return self.sampler(logprobs), logprobs

  def generate(self, prompt_ids: list[int], n_decode: int) -> Iterator[Step]:
    mx = self.mx
    if len(prompt_ids) + n_decode > self.ctx:
      raise ValueError(f"prompt ({len(prompt_ids)}) + {n_decode} tokens exceed the context of {self.ctx}: raise --ctx")
    cache = self.make_cache(self.model)  # fresh: every run starts cold
    mx.reset_peak_memory()
    t0 = time.perf_counter()
    prompt = mx.array(prompt_ids)
    if len(prompt_ids) > 1:  # as generate_step: all but the last prompt token fill the cache, their logits never computed
      with mx.stream(self.stream): self.model(prompt[None, :-1], cache=cache)
      mx.eval([c.state for c in cache])
    y, logprobs = self._step(prompt[-1:], cache)
    if self.pipeline: mx.async_eval(y, logprobs)  # generate_step evaluates the log-probabilities too
    for i in range(n_decode + 1):
      last = i == n_decode
      if self.pipeline and not last:
        nxt = self._step(y, cache)
        mx.async_eval(*nxt)
      t1 = time.perf_counter()
      token = y.item()
      t2 = time.perf_counter()
      yield Step(token, len(prompt_ids) if i == 0 else 1, t1 - t0, t2 - t0)
      if last: break
      if i % 256 == 0: mx.clear_cache()  # as generate_step
      # pipelined, the next step has been running since it was queued: its time counts from this token's arrival
      t0 = t2 if self.pipeline else time.perf_counter()
      y = (nxt if self.pipeline else self._step(y, cache))[0]

  def run_totals(self) -> dict: return {"peak_device_bytes": self.mx.get_peak_memory()}

def load(cfg: RunConfig, model: Path) -> MLXEngine: return MLXEngine(cfg, model)
