"""What a step must do, per runs.csv or summary.csv row (or a row made up for an unmeasured size), and the ceilings
of the host it ran on: the features every model of this layer reads.

  bytes_per_token  the weights a decode step streams (an untied embedding table is looked up, not streamed) plus the
                   KV cache it reads: batch x the mean positions decoded on x the architecture's per-position bytes
  roofline_ms      bytes_per_token / the host's measured bandwidth (roofline_gb_s): decode's ceiling
  prefill_flops    2 FLOPs per weight per prompt token (less the embedding table, looked up, but for the last token's
                   logits) + causal attention, 2 x layers x prompt^2 x dim
  prefill_ceiling_ms  the larger of prefill_flops / the measured compute ceiling (compute_gflop_s) and the weights
                   over the bandwidth: prefill's roofline
"""
from __future__ import annotations
import math
import numpy as np
import pandas as pd
from inferbench.core import registry
from inferbench.core.roofline import kv_cache_bytes
from inferbench.models import synthetic

GROUP = ["backend", "device", "knobs"]  # one model each: what runs the step
ARCHS = {**{s: m.arch for s, m in registry.MODELS.items()}, "tiny": synthetic.TINY, **synthetic.LADDER}

def number(s: pd.Series) -> pd.Series:
  """A summary column's number (the first of "a; b" where runs differ); blank or absent -> NaN (a server's rows)."""
  return pd.to_numeric(s.map(lambda v: str(v).split(";")[0] if pd.notna(v) else None), errors="coerce")

def features(df: pd.DataFrame) -> pd.DataFrame:
  out = df.copy()
  for c in ("n_params", "bits_per_weight", "model_bytes", "n_prompt_tokens", "n_decode_steps", "batch", "roofline_gb_s", "compute_gflop_s"):
    out[c] = number(df[c]) if c in df else math.nan
  arch = df["size"].map(ARCHS.get)
  get = lambda f: arch.map(lambda a: math.nan if a is None else f(a)).astype(float)
  out["n_layers"], dim, vocab = get(lambda a: a.n_layers), get(lambda a: a.dim), get(lambda a: a.vocab_size)
  out["kv_bytes_per_position"] = per_position = kv_cache_bytes(out["n_layers"], get(lambda a: a.n_kv_heads), get(lambda a: a.dim // a.n_heads), 1)
  untied = get(lambda a: 0.0 if a.tied_embeddings else a.vocab_size * a.dim * (1 - 1 / a.vocab_size)) / out["n_params"]
  out["context"] = out["n_prompt_tokens"] + (out["n_decode_steps"] + 1) / 2  # mean KV positions a decode step reads
  out["bytes_per_token"] = out["model_bytes"] * (1 - untied) + out["batch"] * per_position * out["context"]
  out["bandwidth_gb_s"] = out["roofline_gb_s"]
  out["roofline_ms"] = out["bytes_per_token"] / out["bandwidth_gb_s"] / 1e6
  n = out["n_prompt_tokens"] * out["batch"]
  out["prefill_flops"] = 2 * (n * (out["n_params"] - vocab * dim) + out["batch"] * vocab * dim) + 2 * out["n_layers"] * out["batch"] * out["n_prompt_tokens"] ** 2 * dim
  out["prefill_ceiling_ms"] = np.fmax(out["prefill_flops"] / out["compute_gflop_s"] / 1e6, out["model_bytes"] / out["bandwidth_gb_s"] / 1e6)
  out["prefill_ceiling_ms"] = out["prefill_ceiling_ms"].where(out["compute_gflop_s"].notna())  # no compute ceiling: no prefill roofline
  if "decode_tok_s_per_seq" in df: out["ms"] = 1e3 / df["decode_tok_s_per_seq"]
  return out
