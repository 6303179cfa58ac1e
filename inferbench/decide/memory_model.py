"""Peak memory per backend x device x settings (work.GROUP), fitted on runs: a physical model, not a curve.

  peak = overhead + w x weights resident + k x KV cache + c x context + s x batch

  term      unit                     what it is                                                  range
  overhead  bytes                    the runtime before any model: Python, libraries, stacks     >= 0
  weights   x resident weight bytes  the share of the weights held: bytes = the file's (llama.cpp >= 0, near 1
                                     maps it; a backend's own quantization; MLX's Q4_0/Q4_1/Q8_0),
                                     or n_params x the knobs' dtype bytes where the backend
                                     holds float copies (PyTorch, MLX's other types)
  kv        x KV cache bytes         batch x KV positions allocated per sequence x the           >= 0, near 1
                                     architecture's per-position bytes (in the knobs' dtype)
  context   bytes per position       buffers that grow with the context per sequence (llama.cpp  >= 0
                                     reserves attention scores and batch arrays for it)
  batch     bytes per sequence       buffers per sequence (logits rows, sequence state)          >= 0

KV positions allocated: the log's kv_positions_per_sequence where rows carry it (limits' probes: llama.cpp rounds up
to 256 cells), else ctx, except caches that grow with the run (MLX, PyTorch eager: prompt + decode steps).
The measured peak is peak_device_bytes on cuda rows, peak_rss_bytes on cpu rows, or a column the caller names
(limits: what the limit counts). Fitted by bounded least squares over runs (scipy lsq_linear, every term >= 0). A
term is fitted only where the runs vary its column and it is not a combination of the terms tried before it (weights,
context, batch, then kv: the KV cache's bytes are known, so it is the one fixed when one must be); else it is fixed at its physical value (weights and kv 1, context and batch 0) and the group's note says so.
A row off an axis the runs never varied (weights, context, batch) gets no prediction. 95% intervals: a seeded
bootstrap over runs, each replicate's prediction plus one residual of the full fit (scaled by sqrt(n / (n - fitted
terms))), so they cover one more run, and at least t x the residual scale on the configurations' degrees of freedom.
"""
from __future__ import annotations
import math
from dataclasses import dataclass
import numpy as np
import pandas as pd
from inferbench import backends
from inferbench.core.formats import owner
from inferbench.core.stats import mape_pct
from inferbench.decide.work import GROUP

TERMS = ("overhead", "weights", "kv", "context", "batch")
UNITS = {"overhead": "bytes", "weights": "x resident weight bytes", "kv": "x KV cache bytes", "context": "bytes per position",
         "batch": "bytes per sequence"}
PHYSICAL = {"weights": 1.0, "kv": 1.0, "context": 0.0, "batch": 0.0}  # a term the runs cannot identify takes this value
AXES = ("weights", "context", "batch")  # a prediction off one of these that the runs never varied is declined
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
BOOT = 200
ALPHA = 0.05  # 95% intervals

@dataclass(frozen=True, eq=False)
class MemoryFit:
  coef: dict[str, float]       # every term's value, fitted or fixed
  fitted: tuple[str, ...]      # the terms the runs identified
  fixed_axes: dict[str, float] # axis -> the only value the runs had
  boot: np.ndarray             # (BOOT, len(TERMS)) the bootstrap replicates' coefficients
  noise: np.ndarray            # (BOOT,) one residual of the full fit per replicate
  measured: str                # what was fitted: peak_rss_bytes / peak_device_bytes (by device) or the caller's column
  n_runs: int
  n_configs: int
  rmse_bytes: float
  note: str

def _knob(knobs: pd.Series, name: str) -> pd.Series: return knobs.fillna("").astype(str).str.extract(rf"(?:^|\s){name}=(\S+)")[0]

def design(rows: pd.DataFrame) -> pd.DataFrame:
  """Each term's column for runs.csv rows after work.features() (n_params, model_bytes, kv_bytes_per_position, ...)."""
  num = lambda c: pd.to_numeric(rows[c], errors="coerce") if c in rows else pd.Series(math.nan, index=rows.index)
  knobs = rows["knobs"] if "knobs" in rows else pd.Series("", index=rows.index)
  dtype = _knob(knobs, "dtype").map(DTYPE_BYTES).astype(float)
  dynamic = (rows["backend"] == "mlx") | knobs.fillna("").astype(str).str.contains(r"(?:^|\s)torch_mode=eager(?:\s|$)")
  cells = num("ctx").where(~dynamic, num("n_prompt_tokens") + num("n_decode_steps"))
  if "kv_positions_per_sequence" in rows: cells = num("kv_positions_per_sequence").fillna(cells)
  # a backend's own quantization, and a GGUF type it computes on as stored, stay the file's bytes; the rest are --dtype copies
  quants = rows["quantize"].astype(str) if "quantize" in rows else pd.Series("", index=rows.index)
  types = rows["model_type"].astype(str) if "model_type" in rows else quants  # the file's type (an alias, int8, is Q8_0)
  kept = pd.Series([owner(q) is not None or t in getattr(backends.get(b), "KEPT_QUANTIZED", ()) if b in backends.BACKENDS else True
                    for b, q, t in zip(rows["backend"], quants, types)], index=rows.index, dtype=bool)
  return pd.DataFrame({"overhead": 1.0, "weights": (num("n_params") * dtype).where(~kept).fillna(num("model_bytes")),
                       "kv": num("batch") * cells * num("kv_bytes_per_position") * (dtype / 2).fillna(1.0),
                       "context": num("ctx"), "batch": num("batch")}, index=rows.index)

def measured(rows: pd.DataFrame, column: str | None = None) -> pd.Series:
  """The peak each run is fitted on: `column` if named, else peak_device_bytes on cuda rows and peak_rss_bytes on cpu rows."""
  num = lambda c: pd.to_numeric(rows[c], errors="coerce") if c in rows else pd.Series(math.nan, index=rows.index)
  if column: return num(column)
  return num("peak_device_bytes").where(rows["device"].astype(str).str.startswith("cuda"), num("peak_rss_bytes"))

def _solve(A: np.ndarray, y: np.ndarray) -> np.ndarray:
  from scipy.optimize import lsq_linear
  scale, ys = np.abs(A).max(axis=0), np.abs(y).max() or 1.0  # unit columns: bvls is exact, not tolerance-bound
  return lsq_linear(A / scale, y / ys, bounds=(0, np.inf), method="bvls").x * ys / scale

def fit_group(d: pd.DataFrame, column: str | None = None) -> MemoryFit | None:
  """One group's fit, or None where no run has the measured peak."""
  X, y = design(d), measured(d, column)
  ok = X.notna().all(axis=1) & y.notna()
  X, y, d = X[ok], y[ok].to_numpy(float), d[ok]
  if not len(y): return None
  free, fixed_axes, notes = ["overhead"], {}, []
  for t in ("weights", "context", "batch", "kv"):  # kv last: the KV cache's bytes are known, so it is the term fixed when one must be
    col, physical = X[t].to_numpy(float), PHYSICAL[t]
    if np.ptp(col) <= 1e-9 * max(1.0, abs(col).max()):
      if t in AXES: fixed_axes[t] = float(col[0])
      if t != "kv": notes.append(f"one {t} value ({col[0]:.6g}): {t} term fixed at {physical:g}, no prediction at another")
      continue
    A = X[free + [t]].to_numpy(float)
    if np.linalg.matrix_rank(A / np.abs(A).max(axis=0)) < len(free) + 1:
      notes.append(f"{t} not separable from {', '.join(free)} in these runs: fixed at {physical:g}")
      continue
    free.append(t)
  fixed = [t for t in TERMS if t not in free]
  base = X[fixed].to_numpy(float) @ np.array([PHYSICAL[t] for t in fixed]) if fixed else 0.0
  A, target = X[free].to_numpy(float), y - base
  def coefs(idx) -> np.ndarray:
    c = dict(zip(free, _solve(A[idx], target[idx])), **{t: PHYSICAL[t] for t in fixed})
    return np.array([c[t] for t in TERMS])
  rng = np.random.default_rng(0)  # seeded: the same runs give the same intervals
  full = coefs(np.arange(len(y)))
  resid = y - X[list(TERMS)].to_numpy(float) @ full
  boot = np.array([coefs(rng.integers(0, len(y), len(y))) for _ in range(BOOT)])
  n_configs = int(d["config"].nunique()) if "config" in d else len(X.drop_duplicates())
  inflate = math.sqrt(len(y) / (len(y) - len(free))) if len(y) > len(free) else 1.0  # fitted residuals understate a new run's
  return MemoryFit(dict(zip(TERMS, map(float, full))), tuple(free), fixed_axes, boot, inflate * rng.choice(resid, BOOT),
                   column or "peak_device_bytes on cuda, peak_rss_bytes on cpu", len(y), n_configs,
                   float(np.sqrt(np.mean(resid ** 2))), "; ".join(notes))

def _groups(rows: pd.DataFrame):
  return rows.assign(knobs=rows["knobs"].fillna("").astype(str) if "knobs" in rows else "").groupby(GROUP, sort=True)

def fit(runs: pd.DataFrame, column: str | None = None) -> dict[tuple, MemoryFit | None]:
  """{(backend, device, knobs): its fit or None} over runs (runs.csv rows after work.features())."""
  return {g: fit_group(d, column) for g, d in _groups(runs)}

def parts(fits: dict, rows: pd.DataFrame) -> pd.DataFrame:
  """Each term's bytes for rows (NaN where the model declines: no fit, or off an axis its runs never varied)."""
  X, out = design(rows), pd.DataFrame(math.nan, index=rows.index, columns=list(TERMS))
  for g, r in _groups(rows):
    if (f := fits.get(g)) is None: continue
    x = X.loc[r.index]
    off = pd.Series(False, index=x.index)
    for axis, v in f.fixed_axes.items(): off |= (x[axis] - v).abs() > 1e-9 * max(1.0, abs(v))
    out.loc[x.index[~off]] = (x[~off] * pd.Series(f.coef)).to_numpy()
  return out

def predict(fits: dict, rows: pd.DataFrame) -> pd.DataFrame:
  """memory_bytes and its 95% interval (memory_lo, memory_hi) for rows, on their index; NaN where the model declines."""
  p = parts(fits, rows)
  out = pd.DataFrame({"memory_bytes": p.sum(axis=1, min_count=1), "memory_lo": math.nan, "memory_hi": math.nan}, index=rows.index)
  X = design(rows)
  for g, r in _groups(rows):
    ok = r.index[out.loc[r.index, "memory_bytes"].notna()]
    if not len(ok) or (f := fits.get(g)) is None: continue
    draws = X.loc[ok, list(TERMS)].to_numpy(float) @ f.boot.T + f.noise  # (rows, BOOT)
    lo, hi = np.percentile(draws, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)], axis=1)
    mid = out.loc[ok, "memory_bytes"].to_numpy()
    # at least the residual scale, Student t on the configurations' degrees of freedom: a new configuration (a held-out
    # context or size) misses by more than one more run of a fitted one does
    from scipy import stats as sps
    df = max(f.n_configs - len(f.fitted), 1)
    half = sps.t.ppf(1 - ALPHA / 2, df) * f.rmse_bytes * math.sqrt(f.n_runs / max(f.n_runs - len(f.fitted), 1))
    out.loc[ok, "memory_lo"], out.loc[ok, "memory_hi"] = np.minimum(lo, mid - half), np.maximum(hi, mid + half)
  return out

def describe(fits: dict) -> list[dict]:
  """Per group: each term's value, unit, 95% bootstrap interval and whether the runs identified it; n_runs; the note."""
  out = []
  for g, f in fits.items():
    row = dict(zip(GROUP, g))
    if f is None:
      out.append({**row, "n_runs": 0, "terms": [], "note": "no run has the measured peak"})
      continue
    lo, hi = np.percentile(f.boot, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)], axis=0)
    terms = [{"term": t, "value": f.coef[t], "unit": UNITS[t], "ci95": [float(lo[i]), float(hi[i])], "fitted": t in f.fitted}
             for i, t in enumerate(TERMS)]
    out.append({**row, "measured": f.measured, "n_runs": f.n_runs, "n_configs": f.n_configs, "rmse_bytes": f.rmse_bytes,
                "terms": terms, "note": f.note})
  return out

def holdout_mape(train_runs: pd.DataFrame, test_runs: pd.DataFrame, column: str | None = None) -> dict:
  """MAPE % of the model fitted on train_runs over test_runs' configurations (each its median peak over runs), per
  group and overall; a configuration the model declines is counted in n_declined, not in the MAPE."""
  fits = fit(train_runs, column)
  t = test_runs.assign(_peak=measured(test_runs, column))
  t = t[t["_peak"].notna()]
  configs = t.groupby("config", sort=True).head(1).set_index("config")
  configs["_peak"] = t.groupby("config")["_peak"].median()
  configs["_pred"] = predict(fits, configs)["memory_bytes"]
  groups, rows = [], []
  for g, d in _groups(configs):
    groups.append({**dict(zip(GROUP, g)), "mape_pct": mape_pct(d["_peak"], d["_pred"]), "n_configs": len(d),
                   "n_declined": int(d["_pred"].isna().sum())})
  return {"mape_pct": mape_pct(configs["_peak"], configs["_pred"]), "n_configs": len(configs),
          "n_declined": int(configs["_pred"].isna().sum()), "groups": groups}
