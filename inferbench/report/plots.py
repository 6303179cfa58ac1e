"""The eight figures, drawn from the analysis's files only: summary.csv, runs.csv and ratios.csv (run
benchmark_analysis.py first). No statistic is computed here.

Every figure has a decode panel and a prefill panel, units on its axes, and a caption naming the models, hosts and
devices, the statistic shown, the runs behind it, the weights (hatched or dashed when synthetic) and the backends
without data. Bars are the median over runs, whiskers the 95% t-interval over runs (none below 3 runs), dots each run.
Labels show exactly the settings that vary among what a panel shows. The same files give byte-identical PNGs.
"""
from __future__ import annotations
import math, sys, textwrap
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from inferbench.core import cli, registry
from inferbench.analyse.analysis import EXPECTED, KEY, PHASES, AnalysisError, label, read_ratios, read_runs, read_summary
from inferbench.analyse import scaling
from inferbench.core.stats import MIN_RUNS_CI
from inferbench.core.files import save_figure
from inferbench.core.names import color, device_words, fmt, knob_words, name, pyplot

plt = pyplot()

MAIN = ("backend_comparison", "speedup_comparison", "summary_stats", "quantization_impact")
ADDITIONAL = ("latency_distribution", "memory_throughput", "param_throughput", "device_comparison")
MEDIAN_CI = (f"bars: median over runs (a run's tok/s = its tokens / their total time), whiskers: 95% Student t interval "
             f"over runs (none below {MIN_RUNS_CI} runs), dots: each run")
DPI = 110
LEGEND_MAX = 6  # legend entries; beyond, a figure labels its bars or lines directly
CROWDED = 10  # x groups in a panel above which labels wrap and panels stack
SERIES = ("backend", "backend_version", "mode", "knobs")     # what tells bars apart within a group
DEVICE = ("hostname", "device", "device_name", "threads")    # threads follow the host: all its cores
X = tuple(k for k in KEY if k not in SERIES)                 # what tells groups apart


@dataclass(frozen=True)
class Results:
  summary: pd.DataFrame
  runs: pd.DataFrame
  ratios: pd.DataFrame
  folder: Path

  @property
  def missing(self) -> list[str]: return [b for b in EXPECTED if b not in set(self.summary["backend"])]

def read(folder: Path) -> Results:
  summary = read_summary(Path(folder) / "summary.csv")
  if summary.empty: raise AnalysisError(f"{folder}/summary.csv has no rows: run a benchmark, its collate script and benchmark_analysis.py")
  return Results(summary, read_runs(Path(folder) / "runs.csv"), read_ratios(Path(folder) / "ratios.csv"), Path(folder))


def synthetic(r) -> bool: return r["weights"] == "synthetic"
def number(v) -> float:
  """A summary cell's first number (the analysis joins a configuration's differing values with "; "); NaN where unknown
  (a remote server does not say which file it serves)."""
  try: return float(str(v).split(";")[0])
  except ValueError: return math.nan
def bpw(r) -> float: return number(r["bits_per_weight"])  # the model file's bits per weight

def labels(rows: pd.DataFrame, columns) -> list[str]:
  """analysis.label over these rows, for the columns a plot puts on this axis."""
  return label(rows, [c for c in KEY if c in columns]).tolist() if len(rows) else []
def series_labels(rows: pd.DataFrame, columns=SERIES) -> list[str]:
  """The backend's name always, then whatever else varies among the series."""
  rest = labels(rows, [c for c in columns if c != "backend"])
  return [" ".join(x for x in (name(b), l) if x) for b, l in zip(rows["backend"], rest)]
def wrap(s: str, width: int) -> str: return "\n".join(textwrap.fill(line, width, break_long_words=False) for line in s.split("\n"))

# ---------------------------------------------------------------- the figure frame every plot shares

def log_axis(ax, axis: str = "y", span: float = 1.0):
  """Log scale with plain numbers at 1, 2, 5, 10, 20..., none on the minor ticks; at powers of ten only where the data
  spans more than 300x (the labels would collide)."""
  getattr(ax, f"set_{axis}scale")("log")
  a = getattr(ax, f"{axis}axis")
  a.set_major_locator(LogLocator(subs=(1,) if span > 300 else (1, 2, 5)))
  a.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))
  a.set_minor_formatter(NullFormatter())

def caption(res: Results, rows: pd.DataFrame, statistic: str, extra: list[str] = ()) -> str:
  """What the figure shows, in a few lines: the statistic and the runs behind it, the models and the devices. Versions,
  commits and dates are the deck's appendix's, once, not every figure's."""
  types = defaultdict(set)
  for r in rows.to_dict("records"):
    known_name = registry.MODELS[r["size"]].name if r["size"] in registry.MODELS else r["model_name"]  # not the GGUF's "Smollm2 135M 8k Lc100K Mix1 Ep2"
    types[(known_name, r["size"], r["weights"])].add(r["model_type"] or "file unknown")
  models = [f"{m or 'unnamed'} ({s}, {w} weights; {', '.join(sorted(t))})" for (m, s, w), t in sorted(types.items())]
  places = sorted({f"{r['hostname']}: {r['device']} = {device_words(r['device_name'])}" for r in rows.to_dict("records")})
  runs = rows["n_runs"].astype(int).tolist()
  missing = [name(b) for b in res.missing]
  lines = [f"{statistic}; {min(runs)}–{max(runs)} runs per configuration" if runs else statistic,
           f"{'; '.join(models) or 'no model'} on {'; '.join(places) or 'no device'}", *extra,
           *([f"No data: {', '.join(missing)}"] if missing else [])]
  return "\n".join(textwrap.fill(l, 150, subsequent_indent="    ") for l in lines)

def figure(title: str, cap: str, panels: int = 2, height: float = 4.2, stacked: bool = False):
  """Panels side by side (or stacked, full width, for many bars) above a caption sized to its lines."""
  n_lines = cap.count("\n") + 1
  rows = panels if stacked else 1
  fig = plt.figure(figsize=(15 if stacked else 13, rows * height + 0.19 * n_lines), layout="constrained")
  gs = fig.add_gridspec(rows + 1, 1 if stacked else panels, height_ratios=[height] * rows + [0.19 * n_lines])
  axes = [fig.add_subplot(gs[i, 0] if stacked else gs[0, i]) for i in range(panels)]
  cap_ax = fig.add_subplot(gs[rows, :])
  cap_ax.axis("off")
  cap_ax.text(0, 1, cap, va="top", ha="left", fontsize=8.5, family="DejaVu Sans", transform=cap_ax.transAxes, color="#333")
  fig.suptitle(title, fontsize=12, fontweight="bold")
  return fig, axes

def empty(ax, why: str):
  ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, fontsize=10, color="#a00", wrap=True)
  ax.set_xticks([]); ax.set_yticks([])

def by_phase(rows: pd.DataFrame) -> dict[str, pd.DataFrame]: return {p: rows[rows["phase"] == p] for p in PHASES}

def phase_title(phase: str) -> str:
  return "decode (1 token per sequence per step)" if phase == "decode" else "prefill (whole prompt per step, incl. first token)"

def crowded(summary: pd.DataFrame) -> bool:
  """More configurations than side-by-side panels can label: stack the panels at full width."""
  return max((summary["phase"] == p).sum() for p in PHASES) > CROWDED

# ---------------------------------------------------------------- one grouped-bar helper for six of the plots

@dataclass(frozen=True)
class Bar:
  x: str                  # the group
  series: str             # the bar within the group (the legend entry)
  backend: str
  value: float
  low: float = math.nan   # whisker, nan: none
  high: float = math.nan
  dots: tuple = ()        # each run's value
  hatched: bool = False

def bars(ax, items: list[Bar], ylabel: str, legend_outside: bool = False):
  """Grouped bars: each group holds only its own bars; a backend's series shade evenly; synthetic weights hatched."""
  items = [b for b in items if b.value == b.value]  # a configuration without this figure (a server reports no model bytes)
  if not items: return empty(ax, "no data")
  xs = sorted({b.x for b in items})
  series = sorted({(b.backend, b.series) for b in items})
  at = {x: sorted({(b.backend, b.series) for b in items if b.x == x}) for x in xs}
  width = min(0.8 / max(map(len, at.values())), 0.3)
  every = [v for b in items for v in (b.value, b.high, *b.dots) if v == v]
  top, bottom = max(every), min(b.value for b in items)
  log = bottom > 0 and top / bottom > 30  # tiny and real models differ 100x: linear bars would hide the small ones
  shade = defaultdict(int)
  rng = np.random.default_rng(0)
  placed = []  # (x position, bar): where each bar went
  for backend, s in series:
    n_mine = sum(b == backend for b, _ in series)
    alpha = 1.0 - 0.6 * shade[backend] / max(n_mine - 1, 1)
    shade[backend] += 1
    mine = [b for b in items if (b.backend, b.series) == (backend, s)]
    pos = np.array([xs.index(b.x) + width * (at[b.x].index((backend, s)) - (len(at[b.x]) - 1) / 2) for b in mine])
    value = np.array([b.value for b in mine])
    ax.bar(pos, value, width * 0.92, color=color(backend), alpha=alpha, label=s, edgecolor="#222", linewidth=0.4,
           hatch=["//" if b.hatched else "" for b in mine])
    lo, hi = np.array([b.low for b in mine]), np.array([b.high for b in mine])
    has = ~np.isnan(lo)
    if has.any():
      low = np.maximum(lo[has], value[has] / 1e6 if log else 0)  # drawn as it is: a skewed run set's median may lie outside the t-interval of its mean
      ax.errorbar(pos[has], (low + hi[has]) / 2, yerr=(hi[has] - low) / 2, fmt="none", ecolor="#111", elinewidth=0.9, capsize=3)
    for p, b in zip(pos, mine):
      placed.append((p, b))
      if b.dots: ax.scatter(p + rng.uniform(-0.25, 0.25, len(b.dots)) * width, b.dots, s=7, color="#111", alpha=0.6, linewidth=0, zorder=3)
      ax.annotate(fmt(b.value), (p, np.nanmax([b.value, b.high, *b.dots])), xytext=(0, 2), textcoords="offset points",
                  ha="center", va="bottom", fontsize=8, rotation=90 if len(series) * len(xs) > 8 else 0)
  dense = len(xs) > CROWDED
  if len(xs) > 16: ax.set_xticks(range(len(xs)), [x.replace("\n", " ") for x in xs], fontsize=8, rotation=90)  # no room to wrap
  else: ax.set_xticks(range(len(xs)), [wrap(x, 16) if dense else x for x in xs], fontsize=8 if dense else 9)
  ax.set_xlim(-0.6, len(xs) - 0.4)
  if log:
    log_axis(ax)
    ax.set_ylim(bottom / 4, top * 4)
  else: ax.set_ylim(0, top * 1.15)
  ax.set_ylabel(ylabel + (" (log scale)" if log else ""))
  handles, _ = ax.get_legend_handles_labels()
  if len(handles) > LEGEND_MAX - 1:  # too many to tell apart by shade: each bar says its series, the legend only the backends
    for p, b in placed:
      ax.annotate(b.series, (p, 0.02), xycoords=("data", "axes fraction"), rotation=90, ha="center", va="bottom", fontsize=8, color="#111")
    handles = [Patch(facecolor=color(b), edgecolor="#222", label=name(b)) for b in dict.fromkeys(b for b, _ in series)][:LEGEND_MAX - 1]
  if any(b.hatched for b in items): handles.append(Patch(facecolor="white", edgecolor="#222", hatch="//", label="synthetic weights"))
  if legend_outside or len(handles) > 2:  # inside, it would cover bars
    ax.legend(handles=handles, fontsize=8.5, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
  else: ax.legend(handles=handles, fontsize=8.5, loc="best", framealpha=0.8)

def line(ax, y: float, text: str, c: str, style: str):
  """A horizontal reference line labelled where it is drawn, not in the legend."""
  ax.axhline(y, color=c, linestyle=style, linewidth=1.2)
  ax.annotate(text, (0.995, y), xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=8.5, color=c)

def run_values(res: Results, config: str, column: str) -> tuple:
  return tuple(res.runs.loc[res.runs["config"] == config, column].dropna())

def rate_bars(res: Results, rows: pd.DataFrame, value: str, run_column: str | None, x_cols=X, series_cols=SERIES, ci: bool = True) -> list[Bar]:
  """Summary rows as bars: x and series labels from what varies among them; dots from runs.csv."""
  xl, sl = labels(rows, x_cols) or [""] * len(rows), series_labels(rows, series_cols)
  return [Bar(x or "all", s, r["backend"], r[value], r["tok_s_ci95_low"] if ci else math.nan, r["tok_s_ci95_high"] if ci else math.nan,
              run_values(res, r["config"], run_column) if run_column else (), synthetic(r))
          for x, s, r in zip(xl, sl, rows.to_dict("records"))]

def mark(ax, x: float, y: float, marker: str, c: str):
  """A percentile's marker: ◆ hollow, ▲ and ✕ in the backend's colour."""
  ax.scatter([x], [y], marker=marker, s=20, zorder=3, **({"color": "white", "edgecolor": c} if marker == "D" else {"color": c}))

# ---------------------------------------------------------------- the eight figures

def backend_comparison(res: Results, **_) -> plt.Figure:
  s = res.summary
  fig, axes = figure("Throughput per backend (tok/s, higher is better)", caption(res, s, MEDIAN_CI), stacked=crowded(s))
  for ax, (phase, rows) in zip(axes, by_phase(s).items()):
    bars(ax, rate_bars(res, rows, "tok_s_median", f"{phase}_tok_s"), f"{phase} tok/s")
    ax.set_title(phase_title(phase))
  return fig

def speedup_comparison(res: Results, baseline: str = "tinygrad", **_) -> plt.Figure:
  r = res.ratios
  pairs = r[(r["kind"] == "backend") & (r["baseline_backend"] == baseline)] if len(r) else r
  others = res.summary[res.summary["backend"] != baseline]
  unmatched = sorted(set(others["label"]) - set(pairs["label"])) if len(pairs) else sorted(set(others["label"]))
  extra = [f"Speedup = median tok/s of a backend's runs ÷ median of {name(baseline)}'s fastest setting's runs, on a configuration matched "
           "in every other setting (same device, host, model file, threads, context, prompt, steps, temperature, batch); whiskers: "
           "seeded percentile bootstrap 95% interval over both sets of runs"] + \
          ([f"No {name(baseline)} run matches: {'; '.join(unmatched)}"] if unmatched else [])
  fig, axes = figure(f"Speedup over {name(baseline)} (×, higher is better)", caption(res, res.summary, "Ratios of run medians", extra),
                     stacked=crowded(res.summary))
  for ax, phase in zip(axes, PHASES):
    ax.set_title(phase_title(phase))
    rows = pairs[pairs["phase"] == phase] if len(pairs) else pairs
    if baseline not in set(res.summary["backend"]):
      empty(ax, f"baseline {name(baseline)} has no data in these CSVs:\nno speedup to show (choose another with --baseline)")
      continue
    if rows.empty:
      empty(ax, f"no {phase} configuration measured on both {name(baseline)} and another backend")
      continue
    line(ax, 1, f"{name(baseline)} = 1×", "#555", "--")
    xl = labels(rows, X) or [""] * len(rows)
    items = [Bar(x or "all", f"{name(q['backend'])} {knob_words(q['knobs'])} vs {name(baseline)} {knob_words(q['baseline_knobs'])}".replace("  ", " ").strip(),
                 q["backend"], q["ratio"], q["ratio_ci95_low"], q["ratio_ci95_high"], hatched=synthetic(q))
             for x, q in zip(xl, rows.to_dict("records"))]
    bars(ax, items, f"{phase} speedup (×)")
  return fig

def summary_stats(res: Results, **_) -> plt.Figure:
  s = res.summary
  cap = caption(res, s, "Per-token latency: ● 1000 / median tok/s over runs, with the 95% t-interval over runs; ◆ p50, ▲ p90, ✕ p99 over "
                "all steps (p90 from 10 steps, p99 from 100); cv = stdev / mean over runs; red: noisy (cv ≥ 10%) or imprecise (wider than its --target-ci)")
  fig, axes = figure("Per-token latency statistics (ms per token, lower is better)", cap,
                     height=max(3.0, 0.45 * max(len(v) for v in by_phase(s).values()) + 1.5))
  for ax, (phase, rows) in zip(axes, by_phase(s).items()):
    ax.set_title(phase_title(phase))
    if rows.empty:
      empty(ax, "no data")
      continue
    per_token = 1e3 / (rows["tok_s_median"] / rows["batch"].astype(float)) if phase == "decode" else \
                1e3 / rows["tok_s_median"]
    ys = list(range(len(rows)))[::-1]
    names = series_labels(rows, KEY)
    for y, (lat, r) in zip(ys, zip(per_token, rows.to_dict("records"))):
      c = color(r["backend"])
      if r["tok_s_ci95_low"] == r["tok_s_ci95_low"]:
        scale = lat * r["tok_s_median"]
        ax.plot([scale / r["tok_s_ci95_high"], scale / max(r["tok_s_ci95_low"], 1e-9)], [y, y], color=c, linewidth=1.2)
      ax.scatter([lat], [y], marker="o", color=c, s=22, zorder=3)
      for col, m in (("latency_ms_p50", "D"), ("latency_ms_p90", "^"), ("latency_ms_p99", "x")):
        if r[col] == r[col]: mark(ax, r[col], y, m, c)
    ax.set_yticks(ys, [f"{wrap(n, 48)}\nruns={r['n_runs']:.0f}, cv {r['cv']:.0%}" + (" NOISY" if r["noisy"] else "")
                       + (" IMPRECISE" if r.get("imprecise") else "") for n, r in zip(names, rows.to_dict("records"))], fontsize=8.5)
    for t, r in zip(ax.get_yticklabels(), rows.to_dict("records")): t.set_color("#c00" if r["noisy"] or r.get("imprecise") else "#111")
    shown = [v for v in [*per_token, *rows["latency_ms_p99"], *rows["latency_ms_p50"]] if v == v]
    log_axis(ax, "x", span=max(shown) / min(shown))
    ax.margins(x=0.1, y=0.08)
    ax.legend(handles=[Line2D([], [], marker=m, color="#444", markerfacecolor=f, linestyle=ls, label=l) for m, f, ls, l in
                       (("o", "#444", "-", "1000 / median tok/s, 95% CI"), ("D", "white", "", "p50 of steps"), ("^", "#444", "", "p90"),
                        ("x", "#444", "", "p99"))], fontsize=8.5, loc="best", framealpha=0.8)
    ax.set_xlabel(f"{phase} latency (ms per token, log scale)")
    ax.grid(axis="x", which="both", alpha=0.25)
  return fig

def quantization_impact(res: Results, **_) -> plt.Figure:
  """One panel per place and model (phases in rows), one line per backend setting: few enough lines to tell apart."""
  s = res.summary
  unknown = sorted({name(b) for b, v in zip(s["backend"], s.apply(bpw, axis=1)) if math.isnan(v)})
  s = s[~s.apply(bpw, axis=1).isna()].assign(bpw=lambda d: d.apply(bpw, axis=1))
  cap = caption(res, s, "Points: median tok/s over runs with the 95% t-interval over runs; x = the GGUF file's bits per weight; one line per "
                "backend setting" + (f". Not drawn (model file unknown, so no bits per weight): {', '.join(unknown)}" if unknown else ""))
  places = sorted({(r["device_name"], r["size"], r["weights"]) for r in s.to_dict("records")}) or [("", "", "")]
  fig = plt.figure(figsize=(max(7, 4.6 * len(places)), 2 * 3.8 + 0.19 * (cap.count("\n") + 1)), layout="constrained")
  gs = fig.add_gridspec(3, len(places), height_ratios=[3.8, 3.8, 0.19 * (cap.count("\n") + 1)])
  cap_ax = fig.add_subplot(gs[2, :]); cap_ax.axis("off")
  cap_ax.text(0, 1, cap, va="top", ha="left", fontsize=8.5, transform=cap_ax.transAxes, color="#333")
  fig.suptitle("Quantization impact: throughput against bits per weight (tok/s, higher is better)", fontsize=12, fontweight="bold")
  line_cols = [k for k in KEY if k not in ("quantize", "model_type", "model_sha256", "device", "device_name", "hostname", "size", "weights")]
  for i, phase in enumerate(PHASES):
    for j, place in enumerate(places):
      ax = fig.add_subplot(gs[i, j])
      rows = s[(s["phase"] == phase) & (s[["device_name", "size", "weights"]].apply(tuple, axis=1) == place)] if len(s) else s
      ax.set_title(wrap(f"{phase}: {place[1]}{' synthetic' if place[2] == 'synthetic' else ''}, {device_words(place[0])}", 40), fontsize=10)
      if rows.empty:
        empty(ax, "no data")
        continue
      rows = rows.assign(line=series_labels(rows, line_cols))
      lines = list(rows.groupby("line", sort=True))
      for label_, rs in lines:
        rs = rs.sort_values("bpw")
        y = rs["tok_s_median"].to_numpy()
        lo = np.where(rs["tok_s_ci95_low"].isna(), y, np.maximum(rs["tok_s_ci95_low"], y / 1e6))
        hi = np.where(rs["tok_s_ci95_high"].isna(), y, rs["tok_s_ci95_high"])
        ax.errorbar(rs["bpw"], y, yerr=[y - lo, hi - y], color=color(rs.iloc[0]["backend"]), marker="o", markersize=4, capsize=3,
                    label=label_, linestyle="--" if synthetic(rs.iloc[0]) else "-", linewidth=1.2)
        if len(lines) <= 2:  # more would overlap: the x ticks name the files
          for xi, yi, t in zip(rs["bpw"], y, rs["model_type"]): ax.annotate(f"{t}\n{fmt(yi)}", (xi, yi), xytext=(4, 4), textcoords="offset points", fontsize=8)
      files = rows.drop_duplicates("model_type").sort_values("bpw")
      ax.set_xticks(files["bpw"], [f"{t}\n{b:.1f}" for t, b in zip(files["model_type"], files["bpw"])], fontsize=8.5)
      log_axis(ax)
      ax.set_xlabel("GGUF file, bits per weight (file bytes × 8 / parameters)", fontsize=9)
      ax.set_ylabel(f"{phase} tok/s (log scale)", fontsize=9)
      if len(lines) <= LEGEND_MAX: ax.legend(fontsize=8.5, loc="best", framealpha=0.8)
      else:  # label each line at its right end
        for label_, rs in lines:
          end = rs.sort_values("bpw").iloc[-1]
          ax.annotate(label_, (end["bpw"], end["tok_s_median"]), xytext=(6, 0), textcoords="offset points", fontsize=8, va="center", color=color(end["backend"]))
      ax.grid(alpha=0.25, which="major")
      ax.margins(x=0.25)
      ax.set_ylim(rows["tok_s_median"].min() / 4, rows[["tok_s_median", "tok_s_ci95_high"]].max().max() * 4)
  return fig

def latency_distribution(res: Results, **_) -> plt.Figure:
  s = res.summary
  cap = caption(res, s, "Per configuration: dots = each run's per-token latency (decode: the run's median step; prefill: its time ÷ "
                "prompt tokens), bar from p50 to p99 of all steps (◆ p50, ▲ p90, ✕ p99; a percentile needs 1, 10 and 100 steps)")
  most = max((s["phase"] == p).sum() for p in PHASES)
  fig, axes = figure("Per-token latency distribution (ms per token, lower is better)", cap, height=0.32 * most + 1.5)
  rng = np.random.default_rng(0)
  for ax, (phase, rows) in zip(axes, by_phase(s).items()):
    ax.set_title(textwrap.fill(phase_title(phase), 40))
    if rows.empty:
      empty(ax, "no data")
      continue
    names = series_labels(rows, KEY)
    ys = list(range(len(rows)))[::-1]
    every = []
    for y, r in zip(ys, rows.to_dict("records")):
      c = color(r["backend"])
      runs = res.runs[res.runs["config"] == r["config"]]
      v = (runs["decode_ms_median"] if phase == "decode" else runs["prefill_ms"] / runs["n_prompt_tokens"].astype(float)).dropna().to_numpy()
      ax.scatter(v, y + rng.uniform(-0.18, 0.18, len(v)), s=10, color=c, alpha=0.8, linewidth=0)
      ps = [r[f"latency_ms_p{q}"] for q in (50, 90, 99)]
      known = [p for p in ps if p == p]
      if len(known) > 1: ax.plot([known[0], known[-1]], [y, y], color=c, linewidth=3, alpha=0.35, solid_capstyle="butt")
      for p, m in zip(ps, ("D", "^", "x")):
        if p == p: mark(ax, p, y, m, c)
      every += [*v, *known]
    ax.set_yticks(ys, [f"{wrap(n, 48)}, runs={r['n_runs']:.0f}, steps={r['n_steps']:.0f}" for n, r in zip(names, rows.to_dict("records"))],
                  fontsize=8.5)
    log_axis(ax, "x", span=max(every) / min(every))
    ax.set_xlabel(f"{phase} latency (ms per token, log scale)")
    ax.grid(axis="x", which="both", alpha=0.25)
  return fig

def memory_throughput(res: Results, **_) -> plt.Figure:
  s = res.summary
  measured = s[s["roofline_gb_s"] > 0].assign(place=lambda d: d["hostname"] + " " + d["device"]).groupby("place")["roofline_gb_s"]
  # one line per place: several leases of one kind of machine measured it a few GB/s apart, their range in the label
  rooflines = [(p, g.median(), f"{g.min():,.1f}" if g.nunique() == 1 else f"{g.min():,.0f}–{g.max():,.0f}") for p, g in measured]
  extra = ["Bytes per step: tinygrad = bytes its kernels access (GlobalCounters.global_mem); others = model geometry, a lower bound "
           "(every weight once + KV cache up to the position)"]
  extra.append("Roofline: the host's measured memory bandwidth, " + "; ".join(f"{p}: {t} GB/s" for p, _, t in rooflines)
               if rooflines else "No measured memory bandwidth in these CSVs (roofline_gb_s): no roofline drawn")
  fig, axes = figure("Memory throughput (GB/s = bytes moved in a run / its time, higher is better)",
                     caption(res, s, "bars: median over runs, dots: each run", extra), stacked=crowded(s))
  for ax, (phase, rows) in zip(axes, by_phase(s).items()):
    for p, v, t in rooflines: line(ax, v, f"measured bandwidth {p}: {t} GB/s", "#a00", ":")
    items = [Bar(b.x, f"{b.series} ({src} bytes)", b.backend, b.value, dots=b.dots, hatched=b.hatched)
             for b, src in zip(rate_bars(res, rows, "mem_gb_s_median", f"{phase}_mem_gb_s", ci=False), rows["memory_bytes_source"])]
    bars(ax, items, f"{phase} memory throughput (GB/s)")
    ax.set_title(phase_title(phase))
    if rooflines and len(rows): ax.set_ylim(top=max(ax.get_ylim()[1], 1.3 * max(v for _, v, _ in rooflines)))
  return fig

def param_throughput(res: Results, **_) -> plt.Figure:
  s = res.summary
  extra = ["Parameter throughput = the GGUF's weight bytes × steps / the run's time: how fast the weights would stream if each step read them once"]
  fig, axes = figure("Parameter throughput (GB/s of model weights, higher is better)",
                     caption(res, s, "bars: median over runs, dots: each run", extra), stacked=crowded(s))
  for ax, (phase, rows) in zip(axes, by_phase(s).items()):
    bars(ax, rate_bars(res, rows, "param_gb_s_median", f"{phase}_param_gb_s", ci=False), f"{phase} parameter throughput (GB/s)")
    ax.set_title(phase_title(phase))
  return fig

def device_comparison(res: Results, **_) -> plt.Figure:
  """The same configuration side by side on every device it ran on; a device's threads are its own (all its cores)."""
  s = res.summary
  places = sorted({(r["hostname"], r["device"], r["device_name"]) for r in s.to_dict("records")})
  no_gpu = "" if s["device"].eq("cuda").any() else "No GPU (cuda) runs in these CSVs: CPU only"
  notes = [n for n in (no_gpu, f"One device only: {' '.join(places[0]) if places else 'none'}" if len(places) < 2 else "") if n]
  x_cols = [k for k in X if k not in DEVICE] + ["backend", "knobs"]
  groups = max(len(set(labels(rows, x_cols))) for rows in by_phase(s).values())
  fig, axes = figure("Throughput per device (tok/s, higher is better)", caption(res, s, MEDIAN_CI, notes), stacked=True,
                     height=3.9 + (2.6 if groups > 16 else 0))  # room for the turned labels
  for ax, (phase, rows) in zip(axes, by_phase(s).items()):
    items = rate_bars(res, rows, "tok_s_median", f"{phase}_tok_s", x_cols=x_cols, series_cols=("backend", *DEVICE))
    bars(ax, items, f"{phase} tok/s", legend_outside=True)
    ax.set_title(phase_title(phase) + (f"\n{no_gpu}" if no_gpu else ""), fontsize=9)
  return fig

ENERGY = "energy_per_token"  # drawn only where some configuration read an energy counter: no figure of zeros

def energy_measured(summary: pd.DataFrame) -> pd.DataFrame:
  """The decode rows that read a counter."""
  if "j_per_token" not in summary: return summary.iloc[:0]
  return summary[(summary["phase"] == "decode") & summary["j_per_token"].notna()]

def energy_per_token(res: Results):
  rows = energy_measured(res.summary)
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

def draw_energy(res: Results, out: Path) -> list[Path]:
  return [save_figure(energy_per_token(res), Path(out) / f"{ENERGY}.png", DPI)] if len(energy_measured(res.summary)) else []

FIGURES = {f.__name__: f for f in (backend_comparison, speedup_comparison, summary_stats, quantization_impact,
                                   latency_distribution, memory_throughput, param_throughput, device_comparison)}

def draw(names, folder: Path, out: Path, baseline: str = "tinygrad") -> list[Path]:
  """The named figures; with the additional ones, the scaling plots whose data exists (scaling.py)."""
  res = read(folder)
  return [save_figure(FIGURES[n](res, baseline=baseline), out / f"{n}.png", DPI) for n in names] + \
         (scaling.draw_plots(res.summary, Path(folder), out) + draw_energy(res, out) if "device_comparison" in names else [])

def main(names, doc: str, argv: list[str] | None = None) -> int:
  p = cli.Parser(description=doc)
  p.add_argument("-d", "--dir", type=Path, default=Path("benchmark_output"), help="folder of summary.csv, runs.csv and ratios.csv (default: %(default)s)")
  p.add_argument("-o", "--output-dir", type=Path, default=Path("plots"), help="where the PNGs go (default: %(default)s)")
  if "speedup_comparison" in names:
    p.add_argument("--baseline", default="tinygrad", help="backend the speedups are relative to (default: %(default)s)")
  args = p.parse_args(argv)
  try: paths = draw(names, args.dir, args.output_dir, getattr(args, "baseline", "tinygrad"))
  except AnalysisError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  for path in paths: print(path)
  return 0
