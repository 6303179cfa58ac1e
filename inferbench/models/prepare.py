"""Where a benchmark's GGUF comes from: the embedded model, the Hugging Face Hub or a local path,
then quantized with llama.cpp's own quantizer so every backend reads the very same file (or, for a backend's own
quantization, mlx-q* or torchao-*, by that backend's quantizer, beside them)."""
from __future__ import annotations
import importlib.util, json, os, re, sys, tempfile
from collections import Counter
from pathlib import Path
from typing import Callable, TypeVar
from inferbench import backends
from inferbench.core import registry, files
from inferbench.core.formats import FTYPES, ModelError, PRECISION, WEIGHTS, own_name, owner, quant_type, check_size
from inferbench.core.files import atomic_write
from inferbench.models.modelfile import describe

T = TypeVar("T")

def source_path(size: str | None, model: str | None = None, weights: str = "real") -> Path:
  """The GGUF that a size (or --model) names, downloading it if needed; with weights="synthetic", a GGUF of that
  model's exact architecture with random seeded weights (see synthetic_path)."""
  if weights not in WEIGHTS: raise ModelError(f"unknown weights {weights!r}: use one of {', '.join(WEIGHTS)}")
  if weights == "synthetic":
    if model: raise ModelError("--weights synthetic writes a registry architecture: pass --size, not --model")
    return synthetic_path(size)
  if model:
    path = Path(model).expanduser()
    if not path.is_file(): raise ModelError(f"model file {path} {not_a_file(path)}: pass the path of a local .gguf file")
    return path
  src = check_size(size)
  if src.embedded and (spec := importlib.util.find_spec(src.embedded)) and spec.submodule_search_locations:
    # find the file without importing the package (its __init__ pulls in the `llm` CLI)
    for folder in spec.submodule_search_locations:
      if found := sorted(Path(folder).glob("*.gguf")): return found[0]
  return hub_download(src.repo, src.filename)

def not_a_file(path: Path) -> str:
  """What a path that is not a regular file is instead, said so that the way out is plain."""
  if path.is_dir():
    inside = sorted(p.name for p in path.glob("*.gguf"))
    return "is a folder" + (f" (it holds {', '.join(inside[:3])}{', ...' if len(inside) > 3 else ''})" if inside else "")
  if os.path.lexists(path) and not path.exists(): return "is a dangling symlink"
  return "is not a regular file" if path.exists() else "does not exist"

def synthetic_path(size: str, seed: int = registry.SYNTHETIC_SEED) -> Path:
  """An F16 GGUF with the exact tensor shapes of the model `size` names and random weights, written once and cached.
  Its tokenizer is the embedded SmolLM2's, padded with unused tokens to the architecture's vocabulary."""
  from inferbench.models import synthetic
  src = check_size(size)
  path = files.CACHE / "synthetic" / f"{src.name}-synthetic-seed{seed}.F16.gguf"
  if not path.is_file():
    tokenizer_from = source_path(registry.SYNTHETIC_TOKENIZER_FROM)
    synthetic.write_model(path, src.arch, tokenizer_from, name=f"{src.name} (synthetic weights)", seed=seed)
  return path

def hub_download(repo: str, filename: str) -> Path:
  from huggingface_hub import hf_hub_download
  from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
  try: return Path(hf_hub_download(repo, filename, cache_dir=files.CACHE / "hub"))
  except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as e:
    raise ModelError(f"cannot fetch {filename} from Hugging Face Hub repo {repo} ({type(e).__name__}): "
                     f"download it on a connected machine and pass --model PATH") from e

def quantized(source: Path, quantize: str, threads: int | None = None, log=print) -> Path:
  """The GGUF for `quantize`, made from `source` with llama.cpp's quantizer and cached beside the other models, with
  its fallbacks beside it (see fallbacks). A quantized source is first dequantized to F16, so every other type comes
  from the most precise weights at hand."""
  if owner(quantize): return own_quantized(source, quantize, threads, log)
  want = quant_type(quantize)
  have = describe(source).file_type
  if want is None or want == have: return source
  out = files.CACHE / "quantized" / f"{model_stem(source)}.{want}.gguf"
  if out.is_file() and _sidecar(out).is_file(): return out
  base = source
  if PRECISION.index(have) > PRECISION.index("F16") and want != "F16": base = quantized(source, "F16", threads, log)
  # a file cached before its fallbacks were recorded: a dry run of the quantizer (no file written) recounts them
  log(f"{'counting the fallbacks of' if out.is_file() else 'quantizing'} {base.name} -> {out.name} with llama.cpp")
  n = llama_quantize(base, out, want, threads, dry_run=out.is_file())
  log(f"{out.name}: {sum(n.values())} tensors in fallback types ({format_fallbacks(n)}), recorded in {_sidecar(out).name}")
  return out

def _sidecar(gguf: Path) -> Path: return gguf.with_name(gguf.name + ".json")

def fallbacks(gguf: Path) -> dict[str, int] | None:
  """How many tensors llama.cpp's quantizer stored in a fallback type, per type (K-quants need rows that are multiples
  of 256, so narrower tensors fall back, e.g. q4_K -> q5_0). None for a file this cache did not quantize."""
  try: return json.loads(_sidecar(gguf).read_text())["fallbacks"]
  except (OSError, ValueError, KeyError, TypeError): return None

def format_fallbacks(n: dict[str, int]) -> str: return ", ".join(f"{k}={v}" for k, v in sorted(n.items())) or "none"

def own_quantized(source: Path, quantize: str, threads: int | None = None, log=print) -> Path:
  """A backend's own quantization of `source` (mlx-q4, torchao-int8), made once by that backend's `quantize` from the
  most precise weights at hand (a quantized source is first dequantized to F16 by llama.cpp) and cached beside the
  GGUF models, with the source's description for modelfile.describe."""
  name, backend = own_name(quantize), backends.get(owner(quantize))
  out = files.CACHE / "quantized" / f"{model_stem(source)}.{name}"
  if (made := backend.quantized_path(out)).is_file(): return made
  info = describe(source)
  base = source if PRECISION.index(info.file_type) <= PRECISION.index("F16") else quantized(source, "F16", threads, log)
  log(f"quantizing {base.name} -> {out.name} with {owner(quantize)}'s quantizer")
  keep = ("name", "arch", "n_layers", "n_heads", "n_kv_heads", "head_dim", "vocab_size", "context_length", "n_params", "tied_embeddings", "synthetic")
  return backend.quantize(base, out, name, {"describe": {k: getattr(info, k) for k in keep}, "source_sha256": info.sha256})

def model_stem(path: Path) -> str:
  """A GGUF's name without its type suffix: "SmolLM2-135M-Instruct.Q4_1.gguf" -> "SmolLM2-135M-Instruct", and
  "Llama-3.2-1B-Instruct-synthetic-seed0.F16.gguf" -> "Llama-3.2-1B-Instruct-synthetic-seed0" (dots in names stay)."""
  head, _, tail = Path(path).stem.rpartition(".")
  return head if head and tail.upper() in FTYPES else Path(path).stem

FALLBACK = re.compile(r"-> falling back to\s+(\S+)")  # llama-quant.cpp's per-tensor warning
FALLBACK_TOTAL = re.compile(r"tensor\(s\) required fallback quantization")  # and its summary of them

def llama_quantize(src: Path, dst: Path, ftype: str, threads: int | None = None, dry_run: bool = False) -> dict[str, int]:
  """Quantizes src to dst and records its fallbacks in dst's sidecar; returns them. llama.cpp prints a warning per
  fallback tensor from C, so fd 2 goes to a file during the call: the warnings are counted, other lines passed on.
  A dry run writes only the sidecar (of a dst made before)."""
  import ctypes
  from inferbench.backends.llamacpp import captured_log, llama_lib
  llama_cpp = llama_lib()
  dst.parent.mkdir(parents=True, exist_ok=True)
  tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
  params = llama_cpp.llama_model_quantize_default_params()
  params.ftype, params.nthread, params.allow_requantize, params.dry_run = FTYPES[ftype], threads or os.cpu_count() or 1, True, dry_run
  try:
    with captured_log() as logged:  # the warnings come through llama.cpp's log, or straight to fd 2 where none is set
      rc, text = _fd2_captured(lambda: llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params)))
    n = dict(Counter(FALLBACK.findall(text + "".join(logged))))
    if other := [l for l in text.splitlines() if l.strip() and not FALLBACK.search(l) and not FALLBACK_TOTAL.search(l)]:
      print("\n".join(other), file=sys.stderr, flush=True)
    if rc: raise ModelError(f"llama.cpp could not quantize {src} to {ftype} (code {rc}): check that the file is a complete GGUF")
    atomic_write(_sidecar(dst), json.dumps({"source": src.name, "type": ftype, "fallbacks": n}, indent=1))
    if not dry_run: os.replace(tmp, dst)
    return n
  finally: tmp.unlink(missing_ok=True)

def _fd2_captured(call: Callable[[], T]) -> tuple[T, str]:
  """Runs call() with file descriptor 2 (where C code writes stderr) sent to a temporary file; returns its result
  and the text written there."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as f:
    os.dup2(f.fileno(), 2)
    try: result = call()
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
    f.seek(0)
    return result, f.read().decode(errors="replace")

def prompt_ids(source: Path, text: str, n: int | None) -> list[int]:
  """Tokenized once, here, so every backend and configuration gets the very same ids."""
  from inferbench.backends.llamacpp import Tokenizer
  ids = Tokenizer(source).encode(text)
  if not ids: raise ValueError("the prompt is empty: pass --prompt TEXT")
  return ids if n is None else (ids * (n // len(ids) + 1))[:n]
