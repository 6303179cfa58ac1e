"""Where a benchmark's GGUF comes from: the embedded model, the Hugging Face Hub or a local path,
then quantized with llama.cpp's own quantizer so every backend reads the very same file (or, for MLX's own
mlx-q* quantizations, with MLX's affine quantizer into an mlx-lm model folder beside them)."""
from __future__ import annotations
import hashlib, importlib.util, json, os, re, struct, sys, tempfile
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, TypeVar
from . import registry
from .registry import MODELS, QUANT_ALIASES

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("INFERBENCH_MODELS", ROOT / "models"))

# GGUF file types (llama.h's LLAMA_FTYPE_*) that llama.cpp's quantizer writes without an importance matrix.
FTYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10, "Q3_K_S": 11, "Q3_K_M": 12,
          "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18, "BF16": 32}
# Most precise first: a quantization is made from the most precise file at hand.
PRECISION = ["F32", "BF16", "F16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_1", "Q5_K_S", "Q5_0", "Q4_K_M", "Q4_1", "Q4_K_S", "Q4_0",
             "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K"]

# MLX's affine quantization (mx.quantize): mlx-q{bits}, optionally -g{group size}; 64 is mlx-lm's default group size.
MLX_BITS, MLX_GROUPS, MLX_GROUP = (2, 3, 4, 5, 6, 8), (32, 64, 128), 64
MLX_SPELLING = re.compile(r"mlx-q(\d+)(?:-g(\d+))?")

class ModelError(Exception):
  """A model that cannot be found, fetched, read or quantized. The message says what to do."""

def is_mlx(quantize: str) -> bool: return quantize.lower().startswith("mlx")

def mlx_quant(quantize: str) -> tuple[int, int]:
  """(bits, group size) of an mlx-q* name: mlx-q4 = 4 bits in groups of 64, mlx-q4-g32 = groups of 32."""
  m = MLX_SPELLING.fullmatch(quantize.lower())
  if not m or int(m[1]) not in MLX_BITS or int(m[2] or MLX_GROUP) not in MLX_GROUPS:
    raise ModelError(f"unknown MLX quantization {quantize!r}: use mlx-q{{{','.join(map(str, MLX_BITS))}}} with an optional group size "
                     f"-g{{{','.join(map(str, MLX_GROUPS))}}} (default {MLX_GROUP}), e.g. mlx-q4, mlx-q8, mlx-q4-g32")
  return int(m[1]), int(m[2] or MLX_GROUP)

def quant_type(quantize: str) -> str | None:
  """Maps a --quantize name to a GGUF type; None means the source file's own type. An mlx-q* name comes back as it is:
  only the MLX backend runs it, and mlx_quant() checks its spelling when the configuration runs."""
  if quantize in QUANT_ALIASES: return QUANT_ALIASES[quantize]
  if quantize.upper() in FTYPES: return quantize.upper()
  if is_mlx(quantize): return quantize
  raise ModelError(f"unknown quantization {quantize!r}: use one of {', '.join([*QUANT_ALIASES, *FTYPES])}, or mlx-q4, mlx-q8, mlx-q4-g32 (MLX)")

def check_size(size: str) -> registry.ModelSource:
  if size not in MODELS: raise ModelError(f"unknown size {size!r}: use one of {', '.join(MODELS)}, or --model PATH for a local GGUF")
  return MODELS[size]

WEIGHTS = ("real", "synthetic")

def source_path(size: str | None, model: str | None = None, weights: str = "real") -> Path:
  """The GGUF that a size (or --model) names, downloading it if needed; with weights="synthetic", a GGUF of that
  model's exact architecture with random seeded weights (see synthetic_path)."""
  if weights not in WEIGHTS: raise ModelError(f"unknown weights {weights!r}: use one of {', '.join(WEIGHTS)}")
  if weights == "synthetic":
    if model: raise ModelError("--weights synthetic writes a registry architecture: pass --size, not --model")
    return synthetic_path(size)
  if model:
    path = Path(model).expanduser()
    if not path.is_file(): raise ModelError(f"model file {path} does not exist: pass the path of a local .gguf file")
    return path
  src = check_size(size)
  if src.embedded and (spec := importlib.util.find_spec(src.embedded)) and spec.submodule_search_locations:
    # find the file without importing the package (its __init__ pulls in the `llm` CLI)
    for folder in spec.submodule_search_locations:
      if found := sorted(Path(folder).glob("*.gguf")): return found[0]
  return hub_download(src.repo, src.filename)

def synthetic_path(size: str, seed: int = registry.SYNTHETIC_SEED) -> Path:
  """An F16 GGUF with the exact tensor shapes of the model `size` names and random weights, written once and cached.
  Its tokenizer is the embedded SmolLM2's, padded with unused tokens to the architecture's vocabulary."""
  from . import synthetic
  src = check_size(size)
  path = CACHE / "synthetic" / f"{src.name}-synthetic-seed{seed}.F16.gguf"
  if not path.is_file():
    tokenizer_from = source_path(registry.SYNTHETIC_TOKENIZER_FROM)
    synthetic.write_model(path, src.arch, tokenizer_from, name=f"{src.name} (synthetic weights)", seed=seed)
  return path

def hub_download(repo: str, filename: str) -> Path:
  from huggingface_hub import hf_hub_download
  from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
  try: return Path(hf_hub_download(repo, filename, cache_dir=CACHE / "hub"))
  except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as e:
    raise ModelError(f"cannot fetch {filename} from Hugging Face Hub repo {repo} ({type(e).__name__}): "
                     f"download it on a connected machine and pass --model PATH") from e

def kv_cache_bytes(n_layers: int, n_kv_heads: int, head_dim: int, n_positions, bytes_per_value: int = 2):
  """K and V for n_positions, as llama.cpp and tinygrad keep them (16-bit). Works on arrays too (predict.py)."""
  return 2 * n_layers * n_kv_heads * head_dim * n_positions * bytes_per_value

@dataclass(frozen=True)
class GGUFInfo:
  """What a GGUF holds, read from its header: enough to count the bytes a decode step must read."""
  path: Path
  name: str
  arch: str
  file_type: str
  n_layers: int
  n_heads: int
  n_kv_heads: int
  head_dim: int
  vocab_size: int
  context_length: int
  n_params: int
  weight_bytes: int       # all tensors as stored
  embedding_bytes: int
  tied_embeddings: bool
  synthetic: bool

  @property
  def bits_per_weight(self) -> float: return 8 * self.weight_bytes / self.n_params

  def kv_bytes(self, n_positions: int) -> int: return kv_cache_bytes(self.n_layers, self.n_kv_heads, self.head_dim, n_positions)

  def decode_bytes(self, position: int) -> int:
    """Bytes one decode step at `position` must read at least: every weight once (an untied embedding table only
    for the one row looked up) plus the KV cache of all positions up to and including this one."""
    weights = self.weight_bytes if self.tied_embeddings else self.weight_bytes - self.embedding_bytes + self.embedding_bytes // self.vocab_size
    return weights + self.kv_bytes(position + 1)

  def prefill_bytes(self, n_prompt: int) -> int:
    """A prefill reads every weight once (at best) and writes the prompt's KV cache."""
    return self.weight_bytes + self.kv_bytes(n_prompt)

  @cached_property
  def sha256(self) -> str: return file_sha256(self.path)

def describe(path: Path) -> GGUFInfo:
  if Path(path).suffix == ".safetensors": return describe_mlx(path)
  from gguf import GGUFReader
  try: r = GGUFReader(path)
  except Exception as e: raise ModelError(f"{path} is not a readable GGUF file ({e}): re-download or re-create it") from e
  def field(key: str, default=None):
    f = r.get_field(key)
    return default if f is None else f.contents()
  arch = field("general.architecture")
  if arch is None: raise ModelError(f"{path} has no general.architecture: not a model GGUF")
  tensors = {t.name: t for t in r.tensors}
  if "token_embd.weight" not in tensors: raise ModelError(f"{path} has no token_embd.weight tensor: not a model GGUF")
  n_heads = field(f"{arch}.attention.head_count")
  ftype = field("general.file_type", 0)
  return GGUFInfo(
    path=Path(path), name=field("general.name", Path(path).stem), arch=arch,
    file_type=next((k for k, v in FTYPES.items() if v == ftype), f"ftype{ftype}"),
    n_layers=field(f"{arch}.block_count"), n_heads=n_heads, n_kv_heads=field(f"{arch}.attention.head_count_kv", n_heads),
    head_dim=field(f"{arch}.attention.key_length", field(f"{arch}.embedding_length") // n_heads),
    vocab_size=len(r.get_field("tokenizer.ggml.tokens").data), context_length=field(f"{arch}.context_length"),
    n_params=sum(int(t.n_elements) for t in r.tensors), weight_bytes=sum(int(t.n_bytes) for t in r.tensors),
    embedding_bytes=int(tensors["token_embd.weight"].n_bytes), tied_embeddings="output.weight" not in tensors,
    synthetic=bool(field("inferbench.synthetic", False)))

def describe_mlx(path: Path) -> GGUFInfo:
  """An mlx-lm model folder's model.safetensors (see mlx_quantized): the source GGUF's description, with the bytes
  actually stored (packed weights, scales and biases), read from the safetensors header."""
  cfg = json.loads((Path(path).parent / "config.json").read_text())
  with open(path, "rb") as f: header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
  nbytes = {k: v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items() if k != "__metadata__"}
  q = cfg["quantization"]
  return GGUFInfo(**{**cfg["inferbench"]["describe"], "path": Path(path), "file_type": f"mlx-q{q['bits']}-g{q['group_size']}",
                     "weight_bytes": sum(nbytes.values()), "embedding_bytes": sum(v for k, v in nbytes.items() if k.startswith("model.embed_tokens."))})

def file_sha256(path: Path) -> str:
  """sha256 of a file, cached by path, size and mtime (hashing an 8B model takes tens of seconds)."""
  st = Path(path).stat()
  key = hashlib.sha256(f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:32]
  memo = CACHE / "sha256" / key
  if memo.is_file(): return memo.read_text().strip()
  h = hashlib.sha256()
  with open(path, "rb") as f:
    while chunk := f.read(1 << 24): h.update(chunk)
  atomic_write(memo, h.hexdigest())
  return h.hexdigest()

@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
  """A file to write in pieces, in place of path when the block ends: readers see the old content or the new, never half."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      yield f
      f.flush(); os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    Path(tmp).unlink(missing_ok=True)
    raise

def atomic_write(path: Path, data: str | bytes):
  with atomic_file(path) as f: f.write(data.encode() if isinstance(data, str) else data)

def save_figure(fig, path: Path, dpi: int) -> Path:
  """Lays a matplotlib figure out, writes it atomically and closes it."""
  import matplotlib.pyplot as plt
  fig.tight_layout()
  with atomic_file(path) as f: fig.savefig(f, dpi=dpi, format=Path(path).suffix.lstrip("."))
  plt.close(fig)
  return Path(path)

def quantized(source: Path, quantize: str, threads: int | None = None, log=print) -> Path:
  """The GGUF for `quantize`, made from `source` with llama.cpp's quantizer and cached beside the other models, with
  its fallbacks beside it (see fallbacks). A quantized source is first dequantized to F16, so every other type comes
  from the most precise weights at hand."""
  if is_mlx(quantize): return mlx_quantized(source, quantize, threads, log)
  want = quant_type(quantize)
  have = describe(source).file_type
  if want is None or want == have: return source
  out = CACHE / "quantized" / f"{model_stem(source)}.{want}.gguf"
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

def mlx_quantized(source: Path, quantize: str, threads: int | None = None, log=print) -> Path:
  """The model.safetensors of an mlx-lm model folder holding `source` in MLX's affine quantization, made once with
  MLX's quantizer from the most precise weights at hand (a quantized source is first dequantized to F16 by llama.cpp)
  and cached beside the GGUF models."""
  bits, group = mlx_quant(quantize)
  out = CACHE / "quantized" / f"{model_stem(source)}.mlx-q{bits}-g{group}"
  if (out / "model.safetensors").is_file(): return out / "model.safetensors"
  info = describe(source)
  base = source if PRECISION.index(info.file_type) <= PRECISION.index("F16") else quantized(source, "F16", threads, log)
  from .backends import mlx
  log(f"quantizing {base.name} -> {out.name} with MLX (affine, {bits} bits, groups of {group})")
  keep = ("name", "arch", "n_layers", "n_heads", "n_kv_heads", "head_dim", "vocab_size", "context_length", "n_params", "tied_embeddings", "synthetic")
  return mlx.quantize(base, out, bits, group, {"describe": {k: getattr(info, k) for k in keep}, "source_sha256": info.sha256})

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
  from .backends.llamacpp import captured_log, llama_lib
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
