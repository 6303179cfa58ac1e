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

# A setting in words, as every table, plot and slide spells it: "flash attention on", "untuned", "pipelined".
def on_off(v: str) -> str: return {"1": "on", "0": "off", "true": "on", "false": "off"}.get(v.lower(), v)
KNOB_WORDS = {"flash_attn": lambda v: f"flash attention {on_off(v)}", "beam": lambda v: "untuned" if v == "0" else f"BEAM {v}",
              "jit": lambda v: {"0": "no JIT", "1": "JIT", "2": "JIT without graphs"}.get(v, f"JIT={v}"),
              "pipeline": lambda v: "pipelined" if on_off(v) == "on" else "synchronous", "dtype": str,
              "torch_mode": lambda v: {"compile": "compiled"}.get(v, v), "attn": lambda v: f"{v.upper() if v == 'sdpa' else v} attention",
              "max_batch": lambda v: f"max batch {v}", "batch_timeout_ms": lambda v: f"batch timeout {float(v):g} ms",
              "ctx_per_seq": lambda v: f"context {v} per sequence", "max_queue": lambda v: f"queue {v}",
              "models_served": lambda v: f"{v} model{'s' if v != '1' else ''} served", "threads": lambda v: threads_words(v),
              "engine_mode": lambda v: f"{v} mode", "split_mode": lambda v: "one GPU" if v == "none" else f"split by {v}",
              "gpus": lambda v: f"over {v} GPU{'' if v == '1' else 's'}"}

def threads_words(v: str) -> str: return f"{v} thread{'' if v == '1' else 's'}"

def knob_words(text: str) -> str:
  """A log's knobs line ("beam=0 jit=1") in words ("untuned, JIT"); an unknown knob as "key value"."""
  def word(item: str) -> str:
    k, _, v = item.partition("=")
    return KNOB_WORDS[k](v) if k in KNOB_WORDS else f"{k.replace('_', ' ')} {v}".strip()
  return ", ".join(word(i) for i in text.split()).replace(", over ", " over ")  # "split by layer over 2 GPUs"

def device_words(device_name: str) -> str:
  """A device's name short enough for a chart: "NVIDIA H100 80GB HBM3" -> "H100 80GB HBM3", "Intel(R) Xeon(R) Processor @ 2.00GHz" -> "Intel Xeon @ 2.00GHz"."""
  for noise in ("NVIDIA ", "(R)", "(TM)", " Processor", " CPU"): device_name = device_name.replace(noise, "")
  return " ".join(device_name.split())

def format_size(n: int) -> str:
  """Bytes as a person reads them: 1.5 GiB, 300 MiB."""
  for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
    if n >= scale: return f"{n / scale:.4g} {unit}"
  return f"{n} B"

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
