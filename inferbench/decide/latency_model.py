"""Physical latency models: a step's time from the work it must do (decide/work.py) over the ceilings measured on
its host, per backend x device x settings.

  decode   ms per token = fixed + per_layer x layers + bytes per token / (eta x bandwidth)
  prefill  ms           = fixed + per_layer x layers + max(FLOPs / compute, weights / bandwidth) / eta

Each term keeps its physical range: fixed and per_layer >= 0 ms (launches, dispatch, sampling: the costs that do not
scale with the work), eta in (0, 1] (the fraction of the roofline achieved). A quantization that ran at two or more
amounts of work has its own eta (its kernels' efficiency); the others share one. per_layer is a term only where the
layer count varies. Fitted by bounded least squares on relative errors (scipy's lsq_linear) over runs: a run is the
sample.

It declines - a note, no prediction - where the data contradict it or cannot pin it down:
  - an unbounded fit (statsmodels WLS) puts 1/eta below 1 with 95% confidence: the time grows more slowly than the
    work at the measured ceiling, so the step is not bound by it;
  - fewer configurations than terms + 1: nothing is left to check the fit with;
  - the bounded fit misses its own configurations by more than MISFIT: the model's shape is wrong for them.
Intervals are 95% prediction intervals of a configuration's median, on a log scale: the configurations' residual
scale (Student t, n - p degrees of freedom) and a seeded bootstrap over runs of the fit itself.
"""
from __future__ import annotations
import dataclasses, math
from dataclasses import dataclass, field
import numpy as np
import pandas as pd
from scipy import stats as sps
from inferbench.decide.work import GROUP

PHASES = {"decode": ("roofline_ms", "ms"), "prefill": ("prefill_ceiling_ms", "ttft_ms")}  # phase -> (its roofline, the measured ms)
MISFIT = 0.25       # the bounded fit's RMS relative error on its own configurations beyond which it is not a model of them
BOOTSTRAP = 200
SEED = 0
SHARED = "shared"   # the eta class of quantizations that ran at one amount of work only

@dataclass(frozen=True)
class Fit:
  phase: str
  terms: list[str]                # fixed_ms, per_layer_ms, inv_eta[CLASS]...
  coef: np.ndarray
  classes: dict[str, str]         # quantization -> its eta class
  sigma: float                    # residual scale of log(configuration median)
  df: int
  boot: np.ndarray                # bootstrap coefficients, BOOTSTRAP x terms
  n_configs: int
  n_runs: int
  note: str = ""                  # why it declines; "" where it predicts
  eta_ci: dict[str, tuple[float, float]] = field(default_factory=dict)

  @property
  def ok(self) -> bool: return not self.note

  def eta(self) -> dict[str, float]: return {t[8:-1]: 1 / c for t, c in zip(self.terms, self.coef) if t.startswith("inv_eta[")}

  def value(self, term: str) -> float: return float(self.coef[self.terms.index(term)]) if term in self.terms else 0.0

def _design(rows: pd.DataFrame, terms: list[str], classes: dict[str, str], roof: str) -> np.ndarray:
  cls = rows["quantize"].map(classes)
  cols = {"fixed_ms": np.ones(len(rows)), "per_layer_ms": rows["n_layers"].to_numpy(float)}
  return np.column_stack([cols[t] if t in cols else np.where(cls == t[8:-1], rows[roof].to_numpy(float), 0.0) for t in terms])

def _lsq(A: np.ndarray, y: np.ndarray, terms: list[str]) -> np.ndarray:
  """Bounded least squares on relative errors: each row divided by its measured time."""
  from scipy.optimize import lsq_linear
  lower = [1.0 if t.startswith("inv_eta") else 0.0 for t in terms]
  return lsq_linear(A / y[:, None], np.ones_like(y), bounds=(lower, np.inf)).x

def fit_group(runs: pd.DataFrame, phase: str) -> Fit | None:
  """One group's model of one phase, or None where it has no runs with the roofline's inputs."""
  roof, measured = PHASES[phase]
  d = runs.dropna(subset=[roof, measured, "n_layers"])
  d = d[d[measured] > 0]
  if d.empty: return None
  work = d.groupby("quantize")[roof].nunique()
  classes = {q: q if n >= 2 else SHARED for q, n in work.items()}
  terms = ["fixed_ms", *(["per_layer_ms"] if d["n_layers"].nunique() > 1 else []),
           *(f"inv_eta[{c}]" for c in sorted(set(classes.values())))]
  n_configs = d["config"].nunique()
  base = dict(phase=phase, terms=terms, classes=classes, n_configs=n_configs, n_runs=len(d))
  if n_configs < len(terms) + 1:
    return Fit(**base, coef=np.full(len(terms), np.nan), sigma=math.nan, df=0, boot=np.empty((0, len(terms))),
               note=f"{n_configs} configuration(s) for {len(terms)} terms: nothing left to check a fit with")
  A, y = _design(d, terms, classes, roof), d[measured].to_numpy(float)
  coef = _lsq(A, y, terms)
  # the configurations' medians against the bounded fit: the residual scale, and whether the shape fits at all
  med = d.assign(pred=A @ coef).groupby("config")[[measured, "pred"]].median()
  resid = np.log(med["pred"] / med[measured])
  df = n_configs - len(terms)
  sigma = float(np.sqrt((resid ** 2).sum() / df))
  rng = np.random.default_rng(SEED)
  idx = [np.flatnonzero(d["config"].to_numpy() == c) for c in d["config"].unique()]
  boot = np.array([_lsq(A[s], y[s], terms) for s in (np.concatenate([rng.choice(i, i.size) for i in idx]) for _ in range(BOOTSTRAP))])
  eta_ci = {t[8:-1]: (float(1 / np.percentile(boot[:, j], 97.5)), float(1 / np.percentile(boot[:, j], 2.5)))
            for j, t in enumerate(terms) if t.startswith("inv_eta")}
  fit = Fit(**base, coef=coef, sigma=sigma, df=df, boot=boot, eta_ci=eta_ci)
  return dataclasses.replace(fit, note=_declines(A, y, terms, coef, resid, phase))

def _declines(A: np.ndarray, y: np.ndarray, terms: list[str], coef: np.ndarray, resid: pd.Series, phase: str) -> str:
  import statsmodels.api as sm
  ceiling = "bandwidth" if phase == "decode" else "compute ceiling"
  free = sm.WLS(y, A, weights=1 / y ** 2).fit()
  ci = free.conf_int(0.05)
  for j, t in enumerate(terms):
    if t.startswith("inv_eta") and ci[j, 1] < 1:
      return (f"{t[8:-1]}: the time grows more slowly than the work at the measured {ceiling} (1/eta {free.params[j]:.2f} "
              f"[{ci[j, 0]:.2f}-{ci[j, 1]:.2f}] < 1): not bound by it, no eta")
  if (rms := float(np.sqrt(np.mean(np.expm1(resid.abs()) ** 2)))) > MISFIT:
    # a fraction held at 1 by its bound: the runs went faster than that ceiling allows
    at_bound = [t[8:-1] for t, c in zip(terms, coef) if t.startswith("inv_eta") and c <= 1 + 1e-9]
    return (f"the bounded fit misses its own configurations by {rms:.0%} (RMS)"
            + (f"; {', '.join(at_bound)} ran faster than eta <= 1 of the measured {ceiling} allows: not its ceiling" if at_bound else
               ": the model does not fit them"))
  return ""

def fit(runs: pd.DataFrame, phase: str) -> dict[tuple, Fit | None]:
  """Each group's model of one phase, fitted on these runs (work.features rows)."""
  return {g: fit_group(d, phase) for g, d in runs.groupby(GROUP, sort=True)}

def predict(fits: dict[tuple, Fit | None], rows: pd.DataFrame, phase: str) -> pd.DataFrame:
  """ms, lo, hi (95% prediction interval of a configuration's median) and note for each row (work.features rows).
  No prediction where its group's model declines, or for a quantization its group never ran and no shared eta covers."""
  roof, _ = PHASES[phase]
  out = pd.DataFrame({"ms": math.nan, "lo": math.nan, "hi": math.nan, "note": ""}, index=rows.index)
  for g, r in rows.groupby(GROUP, sort=False):
    f = fits.get(g)
    if f is None or not f.ok:
      out.loc[r.index, "note"] = f.note if f is not None else "no model of this backend, device and settings"
      continue
    classes = {q: f.classes.get(q, SHARED if SHARED in f.classes.values() else None) for q in r["quantize"].unique()}
    known = r["quantize"].map(classes).notna() & r[[roof, "n_layers"]].notna().all(axis=1)
    out.loc[r.index[~known], "note"] = "a quantization this group never ran, and no shared eta"
    if not known.any(): continue
    A = _design(r[known], f.terms, classes, roof)
    ms = A @ f.coef
    spread = np.log(A @ f.boot.T).std(axis=1)  # the fit's own uncertainty, per row
    half = sps.t.ppf(0.975, f.df) * np.sqrt(f.sigma ** 2 + spread ** 2)
    out.loc[r.index[known], ["ms", "lo", "hi"]] = np.column_stack([ms, ms * np.exp(-half), ms * np.exp(half)])
  return out

def describe(f: Fit) -> dict:
  """models.json's account of one fit: its terms in their units, eta per class with its interval, and the note."""
  return {"phase": f.phase, "n_configs": f.n_configs, "n_runs": f.n_runs, "note": f.note, "classes": f.classes,
          "fixed_ms": f.value("fixed_ms"), "per_layer_ms": f.value("per_layer_ms") if "per_layer_ms" in f.terms else None,
          "eta": {c: {"value": e, "ci95": list(f.eta_ci.get(c, (math.nan, math.nan)))} for c, e in f.eta().items()} if f.ok else {},
          "residual_scale_pct": 100 * math.expm1(f.sigma) if f.sigma == f.sigma else None, "df": f.df}
