"""Display names and colours: how a backend is spelled and drawn in every table, plot and slide."""
from __future__ import annotations

DISPLAY = {"tinygrad": "tinygrad", "llamacpp": "llama.cpp", "mlc": "MLC-LLM", "mlx": "MLX", "inferbench_serve": "inferbench.serve (llama.cpp)"}
COLORS = {"tinygrad": "#4C72B0", "llamacpp": "#DD8452", "mlc": "#55A868", "mlx": "#8172B3"}

OTHER_COLORS = ["#C44E52", "#937860", "#DA8BC3", "#8C8C8C", "#64B5CD"]

def color(backend: str) -> str:
  if backend in COLORS: return COLORS[backend]
  return OTHER_COLORS[sum(map(ord, backend)) % len(OTHER_COLORS)]  # stable across runs, unlike hash()

def name(backend: str) -> str: return DISPLAY.get(backend, backend)
