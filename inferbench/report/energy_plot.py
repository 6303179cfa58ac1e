"""Decode energy per token and mean power, per configuration whose logs read an energy counter (measure/energy.py:
NVML on a GPU, RAPL on a CPU), from summary.csv and runs.csv only. Drawn only where some configuration has energy:
a machine without counters gets no figure rather than one of zeros."""
from __future__ import annotations
import math
from pathlib import Path
import pandas as pd
from inferbench.core.files import save_figure
from inferbench.report.plots import DPI, X, Bar, Results, bars, caption, figure, labels, run_values, series_labels, synthetic

NAME = "energy_per_token"

def measured(summary: pd.DataFrame) -> pd.DataFrame:
  """The decode rows that read a counter."""
  if "j_per_token" not in summary: return summary.iloc[:0]
  return summary[(summary["phase"] == "decode") & summary["j_per_token"].notna()]

def energy_per_token(res: Results):
  rows = measured(res.summary)
  counted = ", ".join(sorted(set("; ".join(rows["energy_measured"].astype(str)).split("; "))))
  cap = caption(res, rows, "bars: decode joules per token pooled over runs (all runs' joules / all their tokens), whiskers: 95% t interval "
                           "over runs' own J/token, dots: each run; right: mean watts over the decode steps",
                [f"Counters: {counted} (gpu: NVML total energy; cpu: RAPL package). Windows are wall time, the harness's work between steps included; "
                 "a counter steps every ~100 ms (NVML on the H200), so one run's value is coarse and the pooled one is not"])
  fig, (left, right) = figure("Energy per decoded token (lower is better) and mean power", cap)
  xl, sl = [x.replace(" ", "\n") for x in labels(rows, X)] or [""] * len(rows), series_labels(rows)  # a word a line: groups fit side by side
  recs = list(zip(xl, sl, rows.to_dict("records")))
  bars(left, [Bar(x or "all", s, r["backend"], r["j_per_token"], r["j_per_token_ci95_low"], r["j_per_token_ci95_high"],
                  run_values(res, r["config"], "j_per_token"), synthetic(r)) for x, s, r in recs], "J per token")
  bars(right, [Bar(x or "all", s, r["backend"], r["watts_mean"], math.nan, math.nan, run_values(res, r["config"], "watts"), synthetic(r))
               for x, s, r in recs], "mean W (decode)", legend_outside=True)
  if left.get_legend(): left.get_legend().remove()  # one legend, beside the right panel
  left.set_title("decode energy per token", fontsize=9)
  right.set_title("mean power over the decode steps", fontsize=9)
  return fig

def draw(res: Results, out: Path) -> list[Path]:
  return [save_figure(energy_per_token(res), Path(out) / f"{NAME}.png", DPI)] if len(measured(res.summary)) else []
