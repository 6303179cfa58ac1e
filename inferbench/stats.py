"""Statistics, derived in one place from raw samples, and the plain-text table every command prints."""
from __future__ import annotations
import math
import numpy as np

# two-sided 95% Student t quantiles for 1..30 degrees of freedom; past 30 the normal 1.96 is within 2%
_T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
NOISY_CV = 0.10  # flag a configuration whose stdev is at least 10% of its mean

def t95(dof: int) -> float: return _T95[dof - 1] if 1 <= dof <= len(_T95) else 1.96

def describe(values) -> dict:
  """count, mean, std, 95% CI of the mean, median, p90, p99, min, max and coefficient of variation."""
  x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)
  if x.size == 0: return {"count": 0}
  std = float(x.std(ddof=1)) if x.size > 1 else 0.0
  half = t95(x.size - 1) * std / math.sqrt(x.size) if x.size > 1 else 0.0
  mean = float(x.mean())
  return {"count": int(x.size), "mean": mean, "std": std, "ci95_low": mean - half, "ci95_high": mean + half,
          "median": float(np.median(x)), "p90": float(np.percentile(x, 90)), "p99": float(np.percentile(x, 99)),
          "min": float(x.min()), "max": float(x.max()), "cv": std / mean if mean else 0.0}

def mad_outliers(values, k: float = 3.5) -> int:
  """How many samples lie more than k robust (MAD-based) z-scores from the median."""
  x = np.asarray(values, dtype=np.float64)
  if x.size < 3: return 0
  med = np.median(x)
  mad = np.median(np.abs(x - med))
  if mad == 0: return 0
  return int((0.6745 * np.abs(x - med) / mad > k).sum())

def format_table(rows: list[dict], columns: list[str]) -> str:
  def fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)): return "-"
    if isinstance(v, float): return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
    return str(v)
  cells = [[fmt(r.get(c)) for c in columns] for r in rows]
  widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
  line = lambda vals: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths)))
  return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)])
