"""The memory-bandwidth roofline, once: the bytes a step must read, and the fraction of the measured bandwidth a
step's time achieves. A decode step must read every weight once plus the KV cache so far, so no backend makes tokens
faster than bandwidth / those bytes (measure/bandwidth.py measures the bandwidth)."""
from __future__ import annotations

def kv_cache_bytes(n_layers: int, n_kv_heads: int, head_dim: int, n_positions, bytes_per_value: int = 2):
  """K and V for n_positions, as llama.cpp and tinygrad keep them (16-bit). Works on arrays too (predict.py)."""
  return 2 * n_layers * n_kv_heads * head_dim * n_positions * bytes_per_value

def fraction(bytes_read, seconds, bandwidth_gb_s):
  """The fraction of the measured bandwidth that reading bytes_read in `seconds` achieves (1 is the roofline). Works
  on arrays and Series."""
  return bytes_read / seconds / (bandwidth_gb_s * 1e9)
