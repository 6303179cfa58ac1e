"""Display names, colours and numbers: how a backend, a value and its interval are spelled and drawn in every table,
plot and slide."""
from __future__ import annotations

DISPLAY = {"tinygrad": "tinygrad", "llamacpp": "llama.cpp", "mlc": "MLC-LLM", "mlx": "MLX", "torch": "PyTorch", "inferbench_serve": "inferbench serve (llama.cpp)",
           "inferbench_serve_torch": "inferbench serve (PyTorch)"}
COLORS = {"tinygrad": "#4C72B0", "llamacpp": "#DD8452", "mlc": "#55A868", "mlx": "#8172B3", "torch": "#C44E52"}

OTHER_COLORS = ["#937860", "#DA8BC3", "#8C8C8C", "#64B5CD"]

def color(backend: str) -> str:
  if backend in COLORS: return COLORS[backend]
  return OTHER_COLORS[sum(map(ord, backend)) % len(OTHER_COLORS)]  # stable across runs, unlike hash()

def name(backend: str) -> str: return DISPLAY.get(backend, backend)

NONE = "–"  # a value that was not measured

def known(v) -> bool: return v is not None and v == v
def fmt(v: float) -> str:
  """Whole numbers from 100 up (1,234, not 1.23e+03), else 3 significant digits."""
  return NONE if not known(v) else f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
def pct(v: float) -> str: return f"{v:.1f}%" if known(v) else NONE
def interval(lo: float, hi: float, unit: str = "") -> str:
  """lo–hi; empty where there is none (a t-interval or a bootstrap needs MIN_RUNS_CI runs)."""
  return f"{fmt(lo)}–{fmt(hi)}{unit}" if known(lo) and known(hi) else ""
def ci(lo: float, hi: float, unit: str = "") -> str:
  from inferbench.core.stats import MIN_RUNS_CI  # here, not at the top: the worker imports this module, and stats imports scipy
  return f"95% CI {i}" if (i := interval(lo, hi, unit)) else f"no CI (fewer than {MIN_RUNS_CI} runs)"
def with_ci(v: float, lo: float, hi: float) -> str: return fmt(v) + (f" [{i}]" if (i := interval(lo, hi)) else "")

# one look for every figure: set by pyplot(), before a figure is made
STYLE = {"font.family": "DejaVu Sans", "font.size": 9, "axes.titlesize": 10, "axes.spines.top": False, "axes.spines.right": False,
         "svg.hashsalt": "inferbench", "path.simplify": False}

def pyplot():
  """matplotlib's pyplot, headless (Agg), with the style every figure shares (core.files.save_figure writes them)."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  plt.rcParams.update(STYLE)
  return plt
