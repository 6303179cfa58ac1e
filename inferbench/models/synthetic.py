"""GGUF files of random, seeded weights with a given architecture's exact tensor shapes.

Tests use tiny ones (both backends load them in seconds); speed runs use real architectures, whose decode speed
depends on shapes and bytes, not on values. Their text is meaningless, and every file is marked
`inferbench.synthetic = true`, which the logs, CSVs, plots and deck carry along.
"""
from __future__ import annotations
from pathlib import Path
import numpy as np
from inferbench.core.registry import Arch

TINY = Arch(n_layers=2, dim=64, ffn_dim=128, n_heads=4, n_kv_heads=2, vocab_size=49152, rope_theta=10000.0,
            context_length=512, tied_embeddings=False)  # untied: a tied random model just repeats its input token
# One width, 2 to 8 layers deep: a ladder of sizes that runs in seconds, each bigger than a CPU's last-level cache,
# for the models' out-of-sample tests (tests/test_predict.py)
LADDER = {f"tiny-l{n}": Arch(n_layers=n, dim=512, ffn_dim=1024, n_heads=8, n_kv_heads=4, vocab_size=49152, rope_theta=10000.0,
                             context_length=512, tied_embeddings=False) for n in (2, 4, 8)}

def tensor_shapes(arch: Arch) -> dict[str, tuple[int, ...]]:
  """GGUF tensor names and numpy shapes (rows = outputs) of a llama-architecture model."""
  hd = arch.dim // arch.n_heads
  shapes = {"token_embd.weight": (arch.vocab_size, arch.dim), "output_norm.weight": (arch.dim,)}
  if not arch.tied_embeddings: shapes["output.weight"] = (arch.vocab_size, arch.dim)
  for i in range(arch.n_layers):
    shapes |= {f"blk.{i}.attn_norm.weight": (arch.dim,), f"blk.{i}.attn_q.weight": (arch.n_heads * hd, arch.dim),
               f"blk.{i}.attn_k.weight": (arch.n_kv_heads * hd, arch.dim), f"blk.{i}.attn_v.weight": (arch.n_kv_heads * hd, arch.dim),
               f"blk.{i}.attn_output.weight": (arch.dim, arch.n_heads * hd), f"blk.{i}.ffn_norm.weight": (arch.dim,),
               f"blk.{i}.ffn_gate.weight": (arch.ffn_dim, arch.dim), f"blk.{i}.ffn_up.weight": (arch.ffn_dim, arch.dim),
               f"blk.{i}.ffn_down.weight": (arch.dim, arch.ffn_dim)}
  return shapes

FILLER_TYPE = 5  # llama.cpp's LLAMA_TOKEN_TYPE_UNUSED: in the vocabulary, never produced by the tokenizer (no merge reaches it)

def filler_token(i: int) -> str: return f"<|inferbench_filler_{i}|>"

def n_params(arch: Arch) -> int: return sum(int(np.prod(s)) for s in tensor_shapes(arch).values())

def file_bytes(arch: Arch, dtype: str = "F16") -> int:
  """Tensor bytes of a written model: matrices in dtype, norms in F32 (alignment padding not counted)."""
  size = {"F16": 2, "F32": 4}[dtype]
  return sum(int(np.prod(s)) * (4 if len(s) == 1 else size) for s in tensor_shapes(arch).values())

def tokenizer_fields(src, vocab_size: int) -> list[tuple[str, object, object]]:
  """The tokenizer of GGUFReader `src` as (key, value, type), its vocabulary padded to vocab_size with unused
  filler tokens. Llama 3's 128256-token tokenizer is not available offline; SmolLM2's 49152 tokens plus fillers
  give a valid tokenizer of that size, which both backends load. Prompt ids are then SmolLM2's, not Llama 3's:
  decode speed depends on the shapes (the embedding and output matrices are full size), not on the ids."""
  import gguf
  n_src = len(src.get_field("tokenizer.ggml.tokens").data)
  if n_src > vocab_size: raise ValueError(f"the tokenizer source has {n_src} tokens, more than the architecture's {vocab_size}")
  pad = vocab_size - n_src
  out = []
  for field in src.fields.values():
    if not field.name.startswith("tokenizer."): continue
    vtype, value = field.types[0], field.contents()
    if vtype == gguf.GGUFValueType.ARRAY and len(field.data) == n_src and pad:  # per-token arrays: tokens, token_type, scores
      if field.name == "tokenizer.ggml.tokens": value = value + [filler_token(i) for i in range(pad)]
      elif field.name == "tokenizer.ggml.token_type": value = value + [FILLER_TYPE] * pad
      elif field.name == "tokenizer.ggml.scores": value = value + [-1e9] * pad
      else: raise ValueError(f"cannot pad tokenizer array {field.name} to {vocab_size} tokens")
    out.append((field.name, value, vtype))
  return out

def write_model(path: Path, arch: Arch, tokenizer_from: Path, name: str = "synthetic", seed: int = 0,
                dtype: str = "F16", context_length: int | None = None) -> Path:
  """Writes a llama-architecture GGUF of random weights (norms are ones), with the tokenizer of `tokenizer_from`
  (padded with unused filler tokens up to the architecture's vocabulary, see tokenizer_fields).
  Matrices are scaled 1/sqrt(fan-in) so activations stay O(1); the embedding (also the output layer when tied)
  has unit variance, which keeps the top logits far apart, so greedy decoding is stable across backends.
  Tensors are streamed one at a time, each from its own seeded generator, so an 8B model needs one tensor's memory."""
  import gguf
  src = gguf.GGUFReader(tokenizer_from)
  tok = tokenizer_fields(src, arch.vocab_size)
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(f".{path.name}.tmp")
  w = gguf.GGUFWriter(tmp, "llama")
  hd = arch.dim // arch.n_heads
  w.add_name(name)
  w.add_context_length(context_length or arch.context_length)
  w.add_embedding_length(arch.dim)
  w.add_block_count(arch.n_layers)
  w.add_feed_forward_length(arch.ffn_dim)
  w.add_head_count(arch.n_heads)
  w.add_head_count_kv(arch.n_kv_heads)
  w.add_rope_dimension_count(hd)
  w.add_rope_freq_base(arch.rope_theta)
  w.add_layer_norm_rms_eps(arch.norm_eps)
  w.add_file_type({"F32": gguf.LlamaFileType.ALL_F32, "F16": gguf.LlamaFileType.MOSTLY_F16}[dtype])
  w.add_bool("inferbench.synthetic", True)
  w.add_uint32("inferbench.synthetic_seed", seed)
  w.add_string("inferbench.tokenizer_from", Path(tokenizer_from).name)
  for key, value, vtype in tok:  # the tokenizer, verbatim but for the fillers
    if vtype == gguf.GGUFValueType.ARRAY: w.add_array(key, value)
    else: w.add_key_value(key, value, vtype)
  np_dtype = np.float16 if dtype == "F16" else np.float32
  shapes = tensor_shapes(arch)
  for tname, shape in shapes.items():  # norms stay F32, as llama.cpp's converter writes them
    dt = np.dtype(np.float32 if len(shape) == 1 else np_dtype)
    w.add_tensor_info(tname, shape, dt, int(np.prod(shape)) * dt.itemsize)
  w.write_header_to_file(); w.write_kv_data_to_file(); w.write_ti_data_to_file()
  for i, (tname, shape) in enumerate(shapes.items()):
    if len(shape) == 1: data = np.ones(shape, np.float32)
    else:
      scale = 1.0 if tname in ("token_embd.weight", "output.weight") else shape[1] ** -0.5
      data = (np.random.default_rng([seed, i]).standard_normal(shape, dtype=np.float32) * scale).astype(np_dtype)
    w.write_tensor_data(data)
    del data
  w.close()
  tmp.replace(path)
  return path
