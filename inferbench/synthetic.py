"""GGUF files of random, seeded weights with a given architecture's exact tensor shapes.

Tests use tiny ones (both backends load them in seconds); speed runs use real architectures, whose decode speed
depends on shapes and bytes, not on values. Their text is meaningless, and every file is marked
`inferbench.synthetic = true`, which the logs, CSVs, plots and deck carry along.
"""
from __future__ import annotations
from pathlib import Path
import numpy as np
from defaults import Arch

TINY = Arch(n_layers=2, dim=64, ffn_dim=128, n_heads=4, n_kv_heads=2, vocab_size=49152, rope_theta=10000.0,
            context_length=512, tied_embeddings=False)  # untied: a tied random model just repeats its input token

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

def write_model(path: Path, arch: Arch, tokenizer_from: Path, name: str = "synthetic", seed: int = 0,
                dtype: str = "F16", context_length: int | None = None) -> Path:
  """Writes a llama-architecture GGUF of random weights (norms are ones), with the tokenizer of `tokenizer_from`.
  Matrices are scaled 1/sqrt(fan-in) so activations stay O(1); the embedding (also the output layer when tied)
  has unit variance, which keeps the top logits far apart, so greedy decoding is stable across backends."""
  import gguf
  src = gguf.GGUFReader(tokenizer_from)
  n_vocab = len(src.get_field("tokenizer.ggml.tokens").data)
  if n_vocab != arch.vocab_size: raise ValueError(f"{tokenizer_from} has {n_vocab} tokens, the architecture {arch.vocab_size}")
  path = Path(path)
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
  for field in src.fields.values():  # the tokenizer, verbatim
    if field.name.startswith("tokenizer."):
      vtype = field.types[0]
      value = field.contents()
      if vtype == gguf.GGUFValueType.ARRAY: w.add_array(field.name, value)
      else: w.add_key_value(field.name, value, vtype)
  rng = np.random.default_rng(seed)
  np_dtype = np.float16 if dtype == "F16" else np.float32
  for tname, shape in tensor_shapes(arch).items():
    if len(shape) == 1: data = np.ones(shape, np.float32)  # norms stay F32, as llama.cpp's converter writes them
    else:
      scale = 1.0 if tname in ("token_embd.weight", "output.weight") else shape[1] ** -0.5
      data = (rng.standard_normal(shape, dtype=np.float32) * scale).astype(np_dtype)
    w.add_tensor(tname, data)
  w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
  tmp.replace(path)
  return path
