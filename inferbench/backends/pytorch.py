"""PyTorch through Hugging Face transformers: transformers' own model code for the GGUF's architecture, loaded from the
very GGUF files the other backends read, and run the way transformers' generate() runs it.

Weights. transformers' GGUF loader dequantizes every tensor to --dtype (float32 on the CPU, float16 on CUDA unless
told): a Q4_1 file runs as dense float matmuls, so PyTorch on a GGUF type measures that type's quality, not quantized
kernels' speed. PyTorch's own weight-only quantization is torchao's (--quantize torchao-int8, torchao-int4): applied
at load, by quantize_, to the most precise GGUF at hand, following a recipe that prepare writes once (`quantize`),
which counts the bytes torchao stores (int8 or packed int4 data, scales and zero points).

Modes (--torch-mode), each its own configuration, never pooled: on the H200's 1B shape eager made 81 tok/s, compiled 430.
  eager    a DynamicCache, every step through the model's Python forward: what from_pretrained + generate() gives
  compile  a StaticCache and torch.compile(fullgraph=True) of the decode step, as generate() compiles it itself
           (GenerationMixin.get_compiled_call): the prefill runs uncompiled (its shape follows the prompt), every
           decode step through the compiled graph. mode="reduce-overhead" (CUDA graphs) on CUDA, as transformers
           compiles; on the CPU inductor's default mode (reduce-overhead adds only CUDA graphs, which the CPU lacks).
           Compiled at load by a compile run, logged as compile_seconds; dynamo's graph count is read after every
           run, and a run that compiled again says so (its run line's recompiles, the CSV's column).

Timing. A step's enqueue_latency_ms ends when the forward returned (on CUDA its kernels may still be running), its
total_latency_ms when its token is on the host (.tolist() waits for the device).
"""
from __future__ import annotations
import json, logging, os, time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Iterator
import numpy as np
from inferbench.backends.base import Step, knob
from inferbench.core.config import RunConfig
from inferbench.core.files import atomic_write, file_sha256
from inferbench.core.formats import TORCHAO_INT4_GROUP, ModelError

INSTALL = "pip install torch==2.13.0 transformers==5.23.0 accelerate==1.15.0 (torchao==0.18.0 for torchao-*), as deps/requirements.txt pins"
QUANTIZE_HELP = ": the GGUF files the other backends read, dequantized to --dtype; or torchao's weight-only torchao-int8, torchao-int4"
MAX_BATCH = 256
COMPILE_MODE = {"cuda": "reduce-overhead", "cpu": "default"}
COMPILE_STEPS = 3  # decode steps of the compile run: CUDA graph trees record on a graph's second or third call

@dataclass(frozen=True)
class Knobs:
  torch_mode: str = knob("eager", "eager: a dynamic cache, the Python forward every step; compile: a static cache and torch.compile "
                                  "of the decode step (reduce-overhead on CUDA)", ("eager", "compile"))
  dtype: str = knob("", "the dtype transformers dequantizes the weights to and computes in (default: float32 on the CPU, float16 on CUDA, "
                        "bfloat16 for torchao-int4)",
                    ("float32", "float16", "bfloat16"))
  attn: str = knob("sdpa", "transformers' attention implementation", ("sdpa", "eager"))

def core():
  """torch, with transformers' chatter off, or a one-line error saying how to install them."""
  logging.getLogger("torchao").setLevel(logging.ERROR)  # its CUDA kernel libraries fail to load on a CPU build, and say so per file
  logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)  # torchao registers enums torch 2.13 calls deprecated
  os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' GGUF loader draws a progress bar per file
  try:
    import torch, transformers, accelerate  # noqa: F401  accelerate: transformers' GGUF loader needs it
  except ImportError as e: raise ModelError(f"PyTorch is not installed ({e}): {INSTALL}") from e
  transformers.logging.set_verbosity_error()
  transformers.logging.disable_progress_bar()
  return torch

def torchao():
  try: import torchao
  except ImportError as e: raise ModelError(f"torchao is not installed ({e}): pip install torchao==0.18.0, as deps/requirements.txt pins") from e
  return torchao

def torchao_config(name: str):
  """torchao's weight-only config for a torchao-* name; int4 needs CUDA in torchao 0.18 (its CPU layouts are gone)."""
  from torchao.quantization import Int4WeightOnlyConfig, Int8WeightOnlyConfig
  if name == "torchao-int8": return Int8WeightOnlyConfig()
  return Int4WeightOnlyConfig(group_size=TORCHAO_INT4_GROUP, int4_packing_format="tile_packed_to_4d")

def read_gguf(path: Path, dtype: str, attn: str, device: str):
  """transformers' model for a GGUF, every tensor dequantized to dtype by its loader."""
  torch = core()
  from transformers import AutoModelForCausalLM
  path = Path(path).resolve()
  extra = {}
  try:
    from transformers import GgufConfig
    extra["quantization_config"] = GgufConfig(dequantize=True)  # newer transformers can keep the blocks packed for kernels from the Hub
  except ImportError: pass
  try:
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=getattr(torch, dtype), attn_implementation=attn, **extra)
  except (ValueError, KeyError, NotImplementedError, TypeError) as e:
    text = str(e).splitlines()[0].rstrip(".") if str(e) else type(e).__name__
    raise ModelError(f"transformers {version('transformers')} cannot load {path.name}: {text}: use a GGUF of an architecture and "
                     "tensor types its GGUF loader reads (llama, with F32/F16/BF16, Q4_0/Q4_1/Q5_x/Q8_0 or K-quants)") from e
  return model.to(device).eval()

def quantized_path(out: Path) -> Path: return out.with_name(out.name + ".json")

def apply_torchao(model, name: str) -> list[str]:
  """quantize_ every linear layer; returns the ones torchao left as they were (int4 skips rows its groups do not divide)."""
  torchao()
  from torchao.quantization import quantize_
  torch = core()
  if name == "torchao-int4" and next(model.parameters()).device.type != "cuda":
    raise ModelError("torchao-int4: torchao 0.18's int4 weight-only layouts run on CUDA only (its CPU layout is gone): use --device cuda, or torchao-int8")
  if name == "torchao-int4" and model.dtype != torch.bfloat16:
    raise ModelError(f"torchao-int4: torchao's int4 layout computes in bfloat16, not {str(model.dtype).removeprefix('torch.')}: use --dtype bfloat16 (its default)")
  quantize_(model, torchao_config(name))
  return [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and type(m.weight.data) in (torch.Tensor, torch.nn.Parameter)]

def stored_bytes(t) -> int:
  """Bytes a tensor holds as torchao stores it: a quantized tensor's inner tensors (data, scales, zero points); a
  floating tensor at 2 bytes a value, as the F16 GGUF stores it, whatever dtype it computes in."""
  from torch.utils._python_dispatch import is_traceable_wrapper_subclass
  if is_traceable_wrapper_subclass(t): return sum(stored_bytes(getattr(t, n)) for n in t.__tensor_flatten__()[0])
  return t.numel() * (2 if t.is_floating_point() else t.element_size())

def quantize(base: Path, out: Path, name: str, provenance: dict) -> Path:
  """A torchao recipe: which GGUF, which quantize_ config, and the bytes it stores, counted on a quantized copy (on
  CUDA where there is one: torchao-int4 runs only there). The backend quantizes the same way at every load."""
  torch, _ = core(), torchao()
  device = "cuda" if torch.cuda.is_available() else "cpu"
  model = read_gguf(base, "bfloat16" if name == "torchao-int4" else "float32", "sdpa", device)
  skipped = apply_torchao(model, name)
  params = dict(model.named_parameters())
  embed = model.get_input_embeddings().weight
  describe = {**provenance["describe"], "file_type": name, "weight_bytes": sum(map(stored_bytes, params.values())),
              # quantize_ gives lm_head its own quantized weight: the float embedding table is then only looked up
              "embedding_bytes": stored_bytes(embed), "tied_embeddings": any(p is embed for n, p in params.items() if "lm_head" in n)}
  path = quantized_path(out)
  atomic_write(path, json.dumps({"inferbench": {"source": base.name, "source_path": str(Path(base).resolve()), "source_sha256": file_sha256(base),
                                                "quantization": name, "torchao": version("torchao"), "left_unquantized": skipped, "describe": describe}}, indent=1))
  return path

def source_gguf(path: Path) -> Path:
  """The GGUF a model file's weights come from: itself, or a torchao recipe's source."""
  return Path(json.loads(Path(path).read_text())["inferbench"]["source_path"]) if Path(path).suffix == ".json" else Path(path)

def load_model(path: Path, dtype: str, attn: str, device: str):
  """(model, how the weights came) for a GGUF, or for a torchao recipe (see quantize)."""
  if Path(path).suffix != ".json":
    return read_gguf(path, dtype, attn, device), f"dequantized to {dtype} by transformers' GGUF loader"
  torchao()  # before transformers, which imports an installed torchao itself
  recipe, base = json.loads(Path(path).read_text())["inferbench"], source_gguf(path)
  if not base.is_file() or file_sha256(base) != recipe["source_sha256"]:
    raise ModelError(f"{path}: its source {base} is gone or changed since the recipe was made: delete {path.name}, and the next run makes it again")
  model = read_gguf(base, dtype, attn, device)
  skipped = apply_torchao(model, recipe["quantization"])
  return model, (f"torchao {version('torchao')} {recipe['quantization']} (quantize_ at load) of {base.name} dequantized to {dtype}"
                 + (f"; left unquantized: {', '.join(skipped)}" if skipped else ""))

def logits(path: Path, ids: list[int], ctx: int) -> np.ndarray:
  """(windows * (ctx-1), vocab) float32, as quality.logits: each window of ctx tokens from an empty cache, in float32."""
  torch = core()
  model, _ = load_model(path, "float32", "sdpa", "cpu")
  with torch.no_grad():
    out = [model(torch.tensor([ids[w * ctx:(w + 1) * ctx]])).logits[0, :-1].float().numpy() for w in range(len(ids) // ctx)]
  return np.concatenate(out)

class TorchEngine:
  def __init__(self, cfg: RunConfig, model: Path):
    knobs = Knobs(**cfg.knobs)
    torch = self.torch = core()
    from transformers import DynamicCache, StaticCache
    if cfg.device == "cuda" and not torch.cuda.is_available():
      raise ModelError(f"--device cuda, but this torch ({torch.__version__}) sees no CUDA device: use the machine's CUDA build of torch, or --device cpu")
    self.device, self.ctx, self.batch, self.mode = cfg.device, cfg.ctx, cfg.batch, knobs.torch_mode
    # torchao's int4 layout takes only bfloat16
    dtype = knobs.dtype or ("bfloat16" if cfg.quantize == "torchao-int4" else "float16" if cfg.device == "cuda" else "float32")
    torch.set_num_threads(cfg.threads)
    torch.set_grad_enabled(False)
    self.generator = torch.Generator(cfg.device).manual_seed(cfg.seed)  # --temperature samples from it
    self.temperature = cfg.temperature
    t0 = time.perf_counter()
    self.model, how = load_model(model, dtype, knobs.attn, cfg.device)
    load_s = time.perf_counter() - t0
    self.version, self.device_name = torch.__version__, torch.cuda.get_device_name() if cfg.device == "cuda" else "CPU"
    config = self.model.config
    if self.mode == "compile":  # one cache for every run, reset before each: its tensors are the compiled graph's inputs
      self.cache = StaticCache(config=config, max_cache_len=cfg.ctx)
      self.new_cache = lambda: self.cache.reset() or self.cache
      self.decode = torch.compile(self.model.forward, mode=COMPILE_MODE[cfg.device], fullgraph=True, dynamic=False)
    else:
      self.new_cache = lambda: DynamicCache(config=config)
      self.decode = self.model.forward
    self.knobs = {"torch_mode": self.mode, "dtype": dtype, "attn": knobs.attn}
    self.info = {"load_seconds": round(load_s, 3), "torch.weights": how, "torch.mode": self.mode, "torch.dtype": dtype, "torch.attn": knobs.attn,
                 "torch.cache": "StaticCache, reset before each run" if self.mode == "compile" else "DynamicCache, new each run",
                 "torch.transformers": version("transformers"), "torch.threads": torch.get_num_threads()}
    if self.mode == "compile":
      import torch._dynamo.utils as dynamo
      self.graphs = lambda: dynamo.counters["stats"]["unique_graphs"]
      t0 = time.perf_counter()
      try: all(True for _ in self.generate(cfg.prompt_ids or [0], COMPILE_STEPS))
      except Exception as e:  # noqa: BLE001 - any compiler error is this configuration's failure, never a fallback to eager
        raise ModelError(f"torch.compile failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}): "
                         "this configuration is recorded as failed; --torch-mode eager runs without the compiler") from e
      self.compiled = self.graphs()
      self.info.update({"compile_seconds": round(time.perf_counter() - t0, 3), "torch.compile": f"mode={COMPILE_MODE[cfg.device]} fullgraph dynamic=False",
                        "torch.compiled_graphs": self.compiled})

  def _next(self, logits):
    """The next token of every sequence, from the last position's logits: argmax (greedy), or sampled at the temperature."""
    torch = self.torch
    logits = logits[:, -1].float()
    if self.temperature <= 0: return logits.argmax(-1)
    return torch.multinomial(torch.softmax(logits / self.temperature, -1), 1, generator=self.generator)[:, 0]

  def generate(self, prompt_ids: list[int], n_decode: int) -> Iterator[Step]:
    torch = self.torch
    if len(prompt_ids) + n_decode > self.ctx:
      raise ValueError(f"prompt ({len(prompt_ids)}) + {n_decode} tokens exceed the context of {self.ctx}: raise --ctx")
    cache = self.new_cache()  # every run starts cold
    if self.device == "cuda": torch.cuda.reset_peak_memory_stats()
    n = len(prompt_ids)
    t0 = time.perf_counter()
    ids = torch.tensor([prompt_ids] * self.batch, device=self.device)
    out = self.model(input_ids=ids, past_key_values=cache, cache_position=torch.arange(n, device=self.device), use_cache=True, logits_to_keep=1)
    token = self._next(out.logits)
    t1 = time.perf_counter()
    tokens = token.tolist()
    yield Step(tokens[0], n * self.batch, t1 - t0, time.perf_counter() - t0, token_ids=tuple(tokens))
    for i in range(n_decode):
      t0 = time.perf_counter()
      out = self.decode(input_ids=token[:, None], past_key_values=cache, cache_position=torch.tensor([n + i], device=self.device), use_cache=True)
      token = self._next(out.logits)
      t1 = time.perf_counter()
      tokens = token.tolist()
      yield Step(tokens[0], self.batch, t1 - t0, time.perf_counter() - t0, token_ids=tuple(tokens))

  def run_totals(self) -> dict:
    out = {"peak_device_bytes": self.torch.cuda.max_memory_allocated()} if self.device == "cuda" else {}
    if self.mode == "compile":  # graphs compiled since the last run: 0 unless a guard failed and dynamo compiled again
      graphs = self.graphs()
      out["recompiles"], self.compiled = graphs - self.compiled, graphs
    return out

def load(cfg: RunConfig, model: Path) -> TorchEngine: return TorchEngine(cfg, model)
