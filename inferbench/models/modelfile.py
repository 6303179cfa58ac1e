"""What a model file holds, read from its header (GGUF, an mlx-lm folder's safetensors, or a torchao recipe), and its sha256."""
from __future__ import annotations
import json, struct
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from inferbench.core.files import file_sha256
from inferbench.core.formats import FTYPES, ModelError
from inferbench.core.roofline import kv_cache_bytes

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
  if Path(path).suffix == ".json": return describe_recipe(path)
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
  """An mlx-lm model folder's model.safetensors (see prepare.own_quantized): the source GGUF's description, with the bytes
  actually stored (packed weights, scales and biases), read from the safetensors header."""
  cfg = json.loads((Path(path).parent / "config.json").read_text())
  with open(path, "rb") as f: header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
  nbytes = {k: v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items() if k != "__metadata__"}
  q = cfg["quantization"]
  return GGUFInfo(**{**cfg["inferbench"]["describe"], "path": Path(path), "file_type": f"mlx-q{q['bits']}-g{q['group_size']}",
                     "weight_bytes": sum(nbytes.values()), "embedding_bytes": sum(v for k, v in nbytes.items() if k.startswith("model.embed_tokens."))})

def describe_recipe(path: Path) -> GGUFInfo:
  """A torchao recipe (see backends/pytorch.quantize): the source GGUF's description, with the bytes its quantizer
  stores, counted when it was made."""
  try: return GGUFInfo(**{**json.loads(Path(path).read_text())["inferbench"]["describe"], "path": Path(path)})
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise ModelError(f"{path} is not a readable torchao recipe ({e}): delete it, and the next run makes it again") from e
