"""The statistics, on plain arrays of samples. The sample is a run (see analysis.py): steps inside one run share the
process, the caches and the machine's drift, so they are not independent and never make an interval."""
from __future__ import annotations
import math
import numpy as np
from scipy import stats as sps

MIN_RUNS_CI = 3        # a t-interval or a bootstrap over fewer runs says nothing: none is given
PERCENTILE_MIN = {50: 1, 90: 10, 99: 100}  # fewer samples than this and the percentile is only the maximum
NOISY_CV = 0.10        # flag a configuration whose runs' stdev is at least 10% of their mean
FIRST_RUN_SLOW = 1.10  # a first run 10% slower than the others' median: a missed warm-up
# a serving load client that used more than half a core: on a machine whose other cores serve, its own scheduling and
# parsing delay the timestamps it takes (GuideLLM used 0.4-0.7 of a core where this project's client used 0.1-0.15)
CLIENT_BOUND_SHARE = 0.5
# an open-loop client whose p99 send lag (a request leaving after its Poisson arrival time) exceeds this many ms is
# client-bound too: a client that keeps up lags by its scheduling jitter (sleep and thread start, well under 1 ms),
# one that does not falls behind by a backlog that grows with every request; 10 ms sits far above the first and is
# reached within moments by the second, and is under a tenth of the TTFT of any server measured here
CLIENT_LAG_MS = 10.0
# a configuration whose runs' CPUs other work kept busy at least a tenth of the time (the mean over runs, so that a few
# runs taken beside other work count: measure/contention.py) measured the machine's contention: a quiet machine shows
# 0-2%, a test suite beside it 30-50%
CONTENDED_SHARE = 0.10
def contended(share) -> bool: return share is not None and share == share and share >= CONTENDED_SHARE
MAD_K = 3.5            # robust z-score beyond which a run is an outlier (flagged, never dropped)
BOOTSTRAP_RESAMPLES = 4999
BOOTSTRAP_SEED = 0     # the same data always gives the same interval

def _finite(x) -> np.ndarray:
  x = np.asarray(x, dtype=np.float64)
  return x[np.isfinite(x)]

def t_interval(x, confidence: float = 0.95) -> tuple[float, float]:
  """Student t interval of the mean of x; (nan, nan) below MIN_RUNS_CI samples."""
  x = _finite(x)
  if x.size < MIN_RUNS_CI: return math.nan, math.nan
  if np.ptp(x) == 0: return float(x[0]), float(x[0])
  lo, hi = sps.t.interval(confidence, x.size - 1, loc=x.mean(), scale=sps.sem(x))
  return float(lo), float(hi)

def ci_pct(x) -> float:
  """How far the 95% t-interval of x reaches from the median of x, as a % of that median (its farther end): the
  precision a --target-ci is judged by. nan below MIN_RUNS_CI samples or at a median of 0."""
  x = _finite(x)
  lo, hi = t_interval(x)
  med = float(np.median(x)) if x.size else math.nan
  return 100 * max(med - lo, hi - med) / med if math.isfinite(lo) and med > 0 else math.nan

def target_met(x, pct: float) -> bool:
  """Both ends of the 95% t-interval over x within pct% of the median of x; never below MIN_RUNS_CI samples. The one
  rule the worker stops by and the analysis flags by (imprecise), so both agree."""
  return bool(ci_pct(x) <= pct)  # nan compares False

def cv(x) -> float:
  x = _finite(x)
  return float(x.std(ddof=1) / x.mean()) if x.size > 1 and x.mean() else math.nan

def percentile(x, q: int) -> float:
  """The q-th percentile, or nan where there are too few samples for it to mean more than the maximum."""
  x = _finite(x)
  return float(np.percentile(x, q)) if x.size >= PERCENTILE_MIN[q] else math.nan

def mad_outliers(x, k: float = MAD_K) -> int:
  """How many samples lie more than k robust (MAD-based) z-scores from the median."""
  x = _finite(x)
  if x.size < 3: return 0
  mad = np.median(np.abs(x - np.median(x)))
  return int((0.6745 * np.abs(x - np.median(x)) / mad > k).sum()) if mad else 0

def drift(x) -> bool:
  """The first and second half of the runs (in the order they ran) disagree beyond their 95% t-intervals."""
  x = _finite(x)
  if x.size < 2 * MIN_RUNS_CI: return False
  (lo1, hi1), (lo2, hi2) = t_interval(x[:x.size // 2]), t_interval(x[x.size // 2:])
  return hi1 < lo2 or hi2 < lo1

def first_run_slow(first: float, rest) -> bool:
  """A rate whose first run is FIRST_RUN_SLOW below the median of the rest (runs of one log)."""
  rest = _finite(rest)
  return bool(rest.size and math.isfinite(first) and first * FIRST_RUN_SLOW < np.median(rest))

def _ratio_of_medians(a, b, axis=-1): return np.median(a, axis=axis) / np.median(b, axis=axis)

def bootstrap_ratio(a, b, paired: bool = False, confidence: float = 0.95, seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
  """median(a) / median(b) with a seeded percentile-bootstrap interval over the runs; the runs of a and b are
  resampled apart (paired=False: two configurations) or together (paired=True: two timers of the same runs).
  The interval is (nan, nan) below MIN_RUNS_CI runs on either side."""
  a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
  ok = np.isfinite(a) & np.isfinite(b) if paired else None
  if paired: a, b = a[ok], b[ok]
  else: a, b = _finite(a), _finite(b)
  if not a.size or not b.size: return math.nan, math.nan, math.nan
  ratio = float(_ratio_of_medians(a, b))
  if min(a.size, b.size) < MIN_RUNS_CI: return ratio, math.nan, math.nan
  res = sps.bootstrap((a, b), _ratio_of_medians, paired=paired, vectorized=True, n_resamples=BOOTSTRAP_RESAMPLES,
                      confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed))
  return ratio, float(res.confidence_interval.low), float(res.confidence_interval.high)

def mape_pct(measured, predicted) -> float:
  """Mean absolute percentage error over the pairs where both are known; nan where none is."""
  m, p = np.asarray(measured, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
  ok = np.isfinite(m) & np.isfinite(p) & (m != 0)
  return float(100 * np.mean(np.abs(p[ok] / m[ok] - 1))) if ok.any() else math.nan

def format_table(rows: list[dict], columns: list[str], markdown: bool = False) -> str:
  """Rows as aligned text columns, or as a Markdown table (a file or a pull request shows it as one)."""
  def fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)): return "-"
    if isinstance(v, float): return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
    return str(v)
  cells = [[fmt(r.get(c)) for c in columns] for r in rows]
  widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
  if markdown: widths = [max(w, 3) for w in widths]  # a Markdown rule needs three characters
  sep, (start, end) = (" | ", ("| ", " |")) if markdown else ("  ", ("", ""))
  line = lambda vals: start + sep.join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths))) + end
  rule = [("-" * (w - 1) + ":" if i else "-" * w) if markdown else "-" * w for i, w in enumerate(widths)]  # numbers right-aligned
  return "\n".join([line(columns), line(rule), *(line(r) for r in cells)])
