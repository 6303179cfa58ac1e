"""The eight figures, drawn from the collated CSVs only (through analysis.load and analysis.summarize).

Every figure has a decode panel and a prefill panel, units on its axes, and a caption naming the models, sizes,
hosts and devices, the statistic shown, the runs behind it, the weights (hatched or marked when synthetic) and the
backends that have no data. The same CSVs give byte-identical PNGs: no timestamps, no software tag, seeded jitter.
"""
from __future__ import annotations
import argparse, math, sys, textwrap
from collections import defaultdict
from pathlib import Path
from typing import Callable
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402
from .analysis import DISPLAY, PHASES, AnalysisError, Data, load, speedups, summarize  # noqa: E402
from .collate import csv_path  # noqa: E402

MAIN = ("backend_comparison", "speedup_comparison", "summary_stats", "quantization_impact")
ADDITIONAL = ("latency_distribution", "memory_throughput", "param_throughput", "device_comparison")
COLORS = {"tinygrad": "#4C72B0", "llamacpp": "#DD8452", "mlc": "#55A868"}
OTHER_COLORS = ["#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]
MEAN_CI = ("bars: mean of per-step values, whiskers: its 95% CI (Student t; one leaving a log axis reaches 0: too few samples), "
           "◆ median")
DPI = 110
CROWDED = 10  # x groups in a panel above which labels wrap and panels stack

plt.rcParams.update({"font.family": "DejaVu Sans", "font.size": 9, "axes.titlesize": 10, "axes.spines.top": False,
                     "axes.spines.right": False, "svg.hashsalt": "inferbench", "path.simplify": False})

def color(backend: str) -> str:
  if backend in COLORS: return COLORS[backend]
  return OTHER_COLORS[sum(map(ord, backend)) % len(OTHER_COLORS)]  # stable across runs, unlike hash()

def name(backend: str) -> str: return DISPLAY.get(backend, backend)
def synthetic(r: dict) -> bool: return "synthetic" in r.get("weights", "")
def config(r: dict) -> str:
  return " ".join(x for x in (r["size"], r["quantize"], r.get("variant", ""), "(synthetic)" if synthetic(r) else "") if x)
def bpw(r: dict) -> float:
  """The model file's bits per weight; NaN where unknown (a remote server does not say which file it serves)."""
  try: return float(r["bits_per_weight"].split(";")[0])  # one model file per configuration
  except ValueError: return math.nan
def where(r: dict) -> str: return f"{r['hostname']} {r['device']}"

def x_label(r: dict, many_places: bool) -> str: return config(r) + (f"\n{where(r)}" if many_places else "")
def model_label(r: dict, many_places: bool) -> str:
  return " ".join(x for x in (r["size"], r["quantize"], "(synthetic)" if synthetic(r) else "") if x) + (f"\n{where(r)}" if many_places else "")

def threads(r: dict) -> str: return next((t for t in r.get("variant", "").split() if t.startswith("threads=")), "")
def without_threads(r: dict) -> str: return " ".join(t for t in r.get("variant", "").split() if t != threads(r))
def knobs_of(summary: list[dict]) -> Callable[[dict], str]:
  """A row's variant without its thread count where its host and device ran only one (threads follow the host, so
  threads_note puts them in the caption and they need not split the bars)."""
  counts = defaultdict(set)
  for r in summary: counts[where(r)].add(threads(r))
  return lambda r: without_threads(r) if len(counts[where(r)]) == 1 else r.get("variant", "")
def threads_note(summary: list[dict]) -> list[str]:
  ts = sorted({f"{where(r)}: {threads(r)}" for r in summary if threads(r)})
  return [f"Threads: {'; '.join(ts)}"] if ts else []
def series_label(knobs: Callable[[dict], str], r: dict) -> str: return " ".join(x for x in (name(r["backend"]), knobs(r)) if x)

# ---------------------------------------------------------------- the figure frame every plot shares

def fmt(v: float) -> str: return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"

def log_axis(ax, axis: str = "y", span: float = 1.0):
  """Log scale with plain numbers at 1, 2, 5, 10, 20..., none on the minor ticks; at powers of ten only where the data
  spans more than 300x (the labels would collide)."""
  getattr(ax, f"set_{axis}scale")("log")
  a = getattr(ax, f"{axis}axis")
  a.set_major_locator(LogLocator(subs=(1,) if span > 300 else (1, 2, 5)))
  a.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))
  a.set_minor_formatter(NullFormatter())

def caption(data: Data, rows: list[dict], statistic: str, extra: list[str] = ()) -> str:
  types = defaultdict(set)
  for r in rows: types[(r["model_name"], r["size"], r["weights"])].add(r["model_type"])
  models = [f"{m} (size {s}, {w} weights; {', '.join(sorted(t))})" for (m, s, w), t in sorted(types.items())]
  places = sorted({f"{r['hostname']}: {r['device']} = {r['device_name']}" for r in rows})
  runs = [int(r["n_runs"]) for r in rows]
  missing = [f"{name(b)} (no rows in {csv_path(Path(), b).name})" for b in data.missing]
  lines = [f"Models: {'; '.join(models) or 'none'}", f"Hosts and devices: {'; '.join(places) or 'none'}",
           f"{statistic}. Runs per configuration: {min(runs)}–{max(runs)}" if runs else statistic,
           *extra, *([f"No data: {', '.join(missing)}"] if missing else []),
           f"Data: {', '.join(f.name for f in data.files) or 'no CSV'}"]
  return "\n".join(textwrap.fill(l, 150, subsequent_indent="    ") for l in lines)

def figure(title: str, cap: str, panels: int = 2, height: float = 4.2, stacked: bool = False):
  """Panels side by side (or stacked, full width, for many bars) above a caption sized to its lines."""
  n_lines = cap.count("\n") + 1
  rows = panels if stacked else 1
  fig = plt.figure(figsize=(15 if stacked else 13, rows * height + 0.17 * n_lines), layout="constrained")
  gs = fig.add_gridspec(rows + 1, 1 if stacked else panels, height_ratios=[height] * rows + [0.17 * n_lines])
  axes = [fig.add_subplot(gs[i, 0] if stacked else gs[0, i]) for i in range(panels)]
  cap_ax = fig.add_subplot(gs[rows, :])
  cap_ax.axis("off")
  cap_ax.text(0, 1, cap, va="top", ha="left", fontsize=7.5, family="DejaVu Sans", transform=cap_ax.transAxes, color="#333")
  fig.suptitle(title, fontsize=12, fontweight="bold")
  return fig, axes

def empty(ax, why: str):
  ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, fontsize=10, color="#a00", wrap=True)
  ax.set_xticks([]); ax.set_yticks([])

def save(fig, path: Path) -> Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=DPI, metadata={"Software": None})  # no version tag: same data, same bytes
  plt.close(fig)
  return path

def by_phase(rows: list[dict]) -> dict[str, list[dict]]: return {p: [r for r in rows if r["phase"] == p] for p in PHASES}

def phase_title(phase: str) -> str:
  return "decode (1 token per step)" if phase == "decode" else "prefill (whole prompt per step, incl. first token)"

# ---------------------------------------------------------------- one grouped-bar helper for six of the plots

def bars(ax, rows: list[dict], x_of: Callable[[dict], str], series_of: Callable[[dict], str], metric: str, ylabel: str,
         legend_outside: bool = False):
  """Grouped bars of summary rows: bar = {metric}_mean, whiskers = its 95% CI, ◆ = {metric}_median. Synthetic hatched."""
  if not rows: return empty(ax, "no data")
  xs = sorted({x_of(r) for r in rows})
  series = sorted({(r["backend"], series_of(r)) for r in rows})
  at = {x: sorted({(r["backend"], series_of(r)) for r in rows if x_of(r) == x}) for x in xs}  # each group holds only its own bars
  shade = defaultdict(int)
  width = min(0.8 / max(map(len, at.values())), 0.3)
  top = max(r[f"{metric}_ci95_high"] if not math.isnan(r[f"{metric}_ci95_high"]) else r[f"{metric}_mean"] for r in rows)
  bottom = min(r[f"{metric}_mean"] for r in rows)
  log = bottom > 0 and top / bottom > 30  # tiny and real models differ 100x: linear bars would hide the small ones
  for i, (backend, s) in enumerate(series):
    n_mine = sum(b == backend for b, _ in series)
    alpha = 1.0 - 0.6 * shade[backend] / max(n_mine - 1, 1)  # a backend's series shade evenly from 1 to 0.4
    shade[backend] += 1
    mine = [r for r in rows if series_of(r) == s and r["backend"] == backend]
    pos = [xs.index(x := x_of(r)) + width * (at[x].index((backend, s)) - (len(at[x]) - 1) / 2) for r in mine]
    mean = np.array([r[f"{metric}_mean"] for r in mine])
    # a CI reaching to 0 or below (2 prefill samples) runs off a log axis's bottom: that is what it says
    lo = np.array([max(r[f"{metric}_ci95_low"], mean[j] / 1e6 if log else 0) for j, r in enumerate(mine)])
    hi = np.array([r[f"{metric}_ci95_high"] for r in mine])
    ax.bar(pos, mean, width * 0.92, color=color(backend), alpha=alpha, label=s, edgecolor="#222", linewidth=0.4,
           hatch=["//" if synthetic(r) else "" for r in mine])
    ax.errorbar(pos, mean, yerr=[mean - lo, hi - mean], fmt="none", ecolor="#111", elinewidth=0.9, capsize=3)
    ax.scatter(pos, [r[f"{metric}_median"] for r in mine], marker="D", s=14, color="white", edgecolor="#111", zorder=3, linewidth=0.7)
    for p, m, h, r in zip(pos, mean, hi, mine):
      ax.annotate(fmt(r[f"{metric}_median"]), (p, np.nanmax([m, h, r[f"{metric}_median"]])), xytext=(0, 2), textcoords="offset points",
                  ha="center", va="bottom", fontsize=7, rotation=90 if len(series) * len(xs) > 8 else 0)
  dense = len(xs) > CROWDED
  wrap = lambda x: "\n".join(textwrap.fill(line, 13, break_long_words=False) for line in x.split("\n"))  # keeps the label's own lines
  ax.set_xticks(range(len(xs)), [wrap(x) if dense else x for x in xs], fontsize=7 if dense else 8)
  ax.set_xlim(-0.6, len(xs) - 0.4)
  if log:
    log_axis(ax)
    ax.set_ylim(bottom / 4, top * 4)
  else: ax.set_ylim(0, top * 1.15)
  ax.set_ylabel(ylabel + (" (log scale)" if log else ""))
  handles, labels = ax.get_legend_handles_labels()
  if any(synthetic(r) for r in rows): handles.append(Patch(facecolor="white", edgecolor="#222", hatch="//", label="synthetic weights"))
  if legend_outside or len(handles) > 6:  # inside, it would cover bars
    ax.legend(handles=handles, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
  else: ax.legend(handles=handles, fontsize=7.5, loc="best", framealpha=0.8)

# ---------------------------------------------------------------- the eight figures

def places_vary(rows: list[dict]) -> bool: return len({where(r) for r in rows}) > 1
def crowded(summary: list[dict]) -> bool:
  """More configurations than side-by-side panels can label: stack the panels at full width."""
  return max(sum(r["phase"] == p for r in summary) for p in PHASES) > CROWDED

def backend_comparison(data: Data, summary: list[dict], **_) -> plt.Figure:
  many = places_vary(summary)
  fig, axes = figure("Throughput per backend (tok/s, higher is better)",
                     caption(data, summary, MEAN_CI + "; tok/s = tokens in a step / step time", threads_note(summary)),
                     stacked=crowded(summary))
  knobs = knobs_of(summary)
  for ax, (phase, rows) in zip(axes, by_phase(summary).items()):
    bars(ax, rows, lambda r: model_label(r, many), lambda r: series_label(knobs, r), "tok_s", f"{phase} tok/s")
    ax.set_title(phase_title(phase))
  return fig

def speedup_comparison(data: Data, summary: list[dict], baseline: str = "tinygrad", **_) -> plt.Figure:
  pairs = speedups(summary, baseline)
  unmatched = sorted({f"{config(r)} on {where(r)}" for r in summary if r["backend"] != baseline} -
                     {f"{config(r)} on {where(r)}" for r in pairs})
  extra = [f"Speedup = backend tok/s ÷ {name(baseline)} tok/s on the same device, host, size and quantization; whiskers combine "
           "both 95% CIs' far ends (conservative)"] + ([f"No {name(baseline)} baseline for: {'; '.join(unmatched)}"] if unmatched else [])
  fig, axes = figure(f"Speedup over {name(baseline)} (×, higher is better)", caption(data, summary, MEAN_CI, extra), stacked=crowded(summary))
  many = places_vary(summary)
  for ax, (phase, rows) in zip(axes, by_phase(pairs).items()):
    ax.set_title(phase_title(phase))
    if not any(r["backend"] == baseline for r in summary):
      empty(ax, f"baseline {name(baseline)} has no data in these CSVs:\nno speedup to show (choose another with --baseline)")
      continue
    if not rows:
      empty(ax, f"no {phase} configuration measured on both {name(baseline)} and another backend")
      continue
    ax.axhline(1, color="#555", linestyle="--", linewidth=0.8, label=f"{name(baseline)} = 1×")  # bars() puts it in the legend
    bars(ax, rows, lambda r: x_label(r, many), lambda r: f"{name(r['backend'])} vs {name(baseline)}", "speedup", f"{phase} speedup (×)")
  return fig

def summary_stats(data: Data, summary: list[dict], **_) -> plt.Figure:
  cap = caption(data, summary, "Per-token latency per configuration: mean with 95% CI (bar), median ◆, p90 ▲, p99 ✕; "
                "n = samples (decode: runs × steps; prefill: one per run), cv = stdev / mean; red: noisy (cv ≥ 10%)")
  fig, axes = figure("Per-token latency statistics (ms per token, lower is better)", cap,
                     height=max(3.0, 0.45 * max(len(v) for v in by_phase(summary).values()) + 1.5))
  for ax, (phase, rows) in zip(axes, by_phase(summary).items()):
    ax.set_title(phase_title(phase))
    if not rows:
      empty(ax, "no data")
      continue
    ys = list(range(len(rows)))[::-1]
    for y, r in zip(ys, rows):
      c = color(r["backend"])
      ax.errorbar(r["latency_ms_mean"], y, xerr=[[r["latency_ms_mean"] - max(r["latency_ms_ci95_low"], r["latency_ms_min"])],
                  [r["latency_ms_ci95_high"] - r["latency_ms_mean"]]], fmt="o", color=c, capsize=3, markersize=4)
      ax.scatter([r["latency_ms_median"]], [y], marker="D", color="white", edgecolor=c, s=22, zorder=3)
      ax.scatter([r["latency_ms_p90"]], [y], marker="^", color=c, s=20)
      ax.scatter([r["latency_ms_p99"]], [y], marker="x", color=c, s=22)
    ax.set_yticks(ys, [f"{name(r['backend'])} {config(r)}" + (f" {where(r)}" if places_vary(summary) else "") +
                       f"\nn={r['count']:.0f}, cv {r['cv']:.0%}" + (" NOISY" if r["noisy"] else "") for r in rows], fontsize=7.5)
    for t, r in zip(ax.get_yticklabels(), rows): t.set_color("#c00" if r["noisy"] else "#111")
    log_axis(ax, "x", span=max(r["latency_ms_p99"] for r in rows) / min(r["latency_ms_min"] for r in rows))
    ax.margins(x=0.1, y=0.08)
    ax.legend(handles=[Line2D([], [], marker=m, color="#444", markerfacecolor=f, linestyle=ls, label=l) for m, f, ls, l in
                       (("o", "#444", "-", "mean, 95% CI"), ("D", "white", "", "median"), ("^", "#444", "", "p90"), ("x", "#444", "", "p99"))],
              fontsize=7, loc="best", framealpha=0.8)
    ax.set_xlabel(f"{phase} latency (ms per token, log scale)")
    ax.grid(axis="x", which="both", alpha=0.25)
  return fig

def quantization_impact(data: Data, summary: list[dict], **_) -> plt.Figure:
  unknown = sorted({name(r["backend"]) for r in summary if math.isnan(bpw(r))})
  summary = [r for r in summary if not math.isnan(bpw(r))]
  cap = caption(data, summary, "Points: mean tok/s with 95% CI, ◆ median; x = the GGUF file's bits per weight (all tensors); "
                "one line per backend, size, host and device" +
                (f". Not drawn (model file unknown, so no bits per weight): {', '.join(unknown)}" if unknown else ""), threads_note(summary))
  fig, axes = figure("Quantization impact: throughput against bits per weight (tok/s, higher is better)", cap, stacked=crowded(summary))
  knobs = knobs_of(summary)
  for ax, (phase, rows) in zip(axes, by_phase(summary).items()):
    ax.set_title(phase_title(phase))
    lines = defaultdict(list)
    for r in rows: lines[(r["backend"], r["size"], knobs(r), where(r), synthetic(r))].append(r)
    if not lines:
      empty(ax, "no data")
      continue
    for (backend, size, variant, place, synth), rs in sorted(lines.items()):
      rs.sort(key=lambda r: bpw(r))
      x = [bpw(r) for r in rs]
      y = np.array([r["tok_s_mean"] for r in rs])
      err = [y - np.maximum([r["tok_s_ci95_low"] for r in rs], y / 1e6), np.array([r["tok_s_ci95_high"] for r in rs]) - y]
      label = " ".join(v for v in (name(backend), size, variant, place if places_vary(summary) else "", "(synthetic)" if synth else "") if v)
      ax.errorbar(x, y, yerr=err, color=color(backend), marker="o", markersize=4, capsize=3, label=label,
                  linestyle="--" if synth else "-", linewidth=1.2)
      ax.scatter(x, [r["tok_s_median"] for r in rs], marker="D", s=14, color="white", edgecolor="#111", zorder=3)
      for xi, yi, r in zip(x, y, rs):
        ax.annotate(f"{r['model_type']}\n{fmt(r['tok_s_median'])}", (xi, yi), xytext=(4, 4), textcoords="offset points", fontsize=7)
    log_axis(ax)
    ax.set_xlabel("bits per weight (GGUF file bytes × 8 / parameters)")
    ax.set_ylabel(f"{phase} tok/s (log scale)")
    beside = {"loc": "upper left", "bbox_to_anchor": (1.01, 1), "frameon": False} if len(lines) > 6 else {}  # inside, it would cover lines
    ax.legend(fontsize=7.5, title="dashed: synthetic weights" if any(k[-1] for k in lines) else None, title_fontsize=7, **beside)
    ax.grid(alpha=0.25, which="major")
    ax.margins(x=0.15)
    means = [r["tok_s_mean"] for r in rows]
    ax.set_ylim(min(means) / 4, max(r["tok_s_ci95_high"] for r in rows) * 4)  # a CI reaching 0 runs off the bottom
  return fig

def latency_distribution(data: Data, summary: list[dict], **_) -> plt.Figure:
  groups = defaultdict(list)
  for r in data.rows: groups[(r["phase"], r["backend"], config(r), where(r))].append(r["total_latency_ms"] / r["n_step_tokens"])
  cap = caption(data, summary, "Every status-ok step's per-token latency: box = quartiles, line = median, whiskers = 1.5 IQR, "
                "dots = each step (jitter across the boxes only, seeded); decode: runs × steps samples; prefill: one per run")
  most = max(sum(k[0] == p for k in groups) for p in PHASES)
  across = most > CROWDED  # boxes as rows, like summary_stats: their labels need the width
  fig, axes = figure("Per-token latency distribution (ms per token, lower is better)", cap, height=0.32 * most + 1.5 if across else 4.2)
  rng = np.random.default_rng(0)
  for ax, phase in zip(axes, PHASES):
    ax.set_title(textwrap.fill(phase_title(phase), 30 if across else 60))  # the panels are narrow beside long labels
    keys = sorted(k for k in groups if k[0] == phase)
    if not keys:
      empty(ax, "no data")
      continue
    values = [groups[k] for k in keys]
    pos = list(range(len(keys)))[::-1] if across else list(range(len(keys)))
    box = ax.boxplot(values, positions=pos, widths=0.5, patch_artist=True, showfliers=False, medianprops={"color": "#111"},
                     orientation="horizontal" if across else "vertical")
    for patch, k in zip(box["boxes"], keys): patch.set(facecolor=color(k[1]), alpha=0.35)
    for i, k, v in zip(pos, keys, values):
      jitter = i + rng.uniform(-0.18, 0.18, len(v))
      ax.scatter(*((v, jitter) if across else (jitter, v)), s=6, color=color(k[1]), alpha=0.8, linewidth=0)
      if not across: ax.annotate(f"n={len(v)}", (i, 0), xycoords=("data", "axes fraction"), xytext=(0, 2), textcoords="offset points",
                                 ha="center", va="bottom", fontsize=7)
    many = len({k[3] for k in keys}) > 1
    parts = [[name(k[1]), k[2], *([k[3]] if many else [])] for k in keys]
    labels = [f"{' '.join(p)}, n={len(v)}" if across else "\n".join(p) for p, v in zip(parts, values)]
    (ax.set_yticks if across else ax.set_xticks)(pos, labels, fontsize=7.5)
    every = [x for v in values for x in v]
    log_axis(ax, "x" if across else "y", span=max(every) / min(every))
    (ax.set_xlabel if across else ax.set_ylabel)(f"{phase} latency (ms per token, log scale)")
    ax.grid(axis="x" if across else "y", which="both", alpha=0.25)
  return fig

def memory_throughput(data: Data, summary: list[dict], **_) -> plt.Figure:
  rooflines = sorted({(where(r), r["roofline_gb_s"]) for r in summary if r["roofline_gb_s"] > 0})
  extra = ["Bytes per step: tinygrad = bytes its kernels access (GlobalCounters.global_mem); others = model geometry, a lower bound "
           "(every weight once + KV cache up to the position)", *threads_note(summary)]
  extra.append("Roofline: the host's measured memory bandwidth, " + "; ".join(f"{p}: {v:.1f} GB/s" for p, v in rooflines)
               if rooflines else "No measured memory bandwidth in these CSVs (roofline_gb_s): no roofline drawn")
  fig, axes = figure("Memory throughput (GB/s = bytes moved per step / step time, higher is better)",
                     caption(data, summary, MEAN_CI, extra), stacked=crowded(summary))
  many, knobs = places_vary(summary), knobs_of(summary)
  for ax, (phase, rows) in zip(axes, by_phase(summary).items()):
    for p, v in rooflines:  # drawn first, so bars() puts them in the legend
      ax.axhline(v, color="#a00", linestyle=":", linewidth=1.2, label=f"measured bandwidth {p}: {v:.1f} GB/s")
    bars(ax, rows, lambda r: model_label(r, many), lambda r: f"{series_label(knobs, r)} ({r['memory_bytes_source']} bytes)", "mem_gb_s",
         f"{phase} memory throughput (GB/s)")
    ax.set_title(phase_title(phase))
    if rooflines and rows: ax.set_ylim(top=max(ax.get_ylim()[1], 1.3 * max(v for _, v in rooflines)))
  return fig

def param_throughput(data: Data, summary: list[dict], **_) -> plt.Figure:
  extra = ["Parameter throughput = the GGUF's weight bytes / step time: how fast the weights would stream if each step read them once",
           *threads_note(summary)]
  fig, axes = figure("Parameter throughput (GB/s of model weights per step time, higher is better)",
                     caption(data, summary, MEAN_CI, extra), stacked=crowded(summary))
  many, knobs = places_vary(summary), knobs_of(summary)
  for ax, (phase, rows) in zip(axes, by_phase(summary).items()):
    bars(ax, rows, lambda r: model_label(r, many), lambda r: series_label(knobs, r), "param_gb_s", f"{phase} parameter throughput (GB/s)")
    ax.set_title(phase_title(phase))
  return fig

def device_comparison(data: Data, summary: list[dict], **_) -> plt.Figure:
  """The same configuration side by side on every device it ran on. Thread counts follow the host (all its cores),
  so they are left out of the configuration and shown in the caption."""
  places = sorted({(r["hostname"], r["device"], r["device_name"]) for r in summary})
  no_gpu = "" if any(r["device"] == "cuda" for r in summary) else "No GPU (cuda) runs in these CSVs: CPU only"
  notes = [n for n in (no_gpu, f"One device only: {' '.join(places[0]) if places else 'none'}" if len(places) < 2 else "") if n]
  notes += threads_note(summary)
  def same_config(r: dict) -> str:  # thread counts differ between hosts, so never split a configuration by them
    return "\n".join(x for x in (name(r["backend"]), f"{r['size']} {r['quantize']}", without_threads(r), "(synthetic)" if synthetic(r) else "") if x)
  fig, axes = figure("Throughput per device (tok/s, higher is better)", caption(data, summary, MEAN_CI, notes), stacked=True, height=3.9)
  for ax, (phase, rows) in zip(axes, by_phase(summary).items()):
    bars(ax, rows, same_config, lambda r: f"{name(r['backend'])} on {r['device']} ({r['hostname']}):\n{textwrap.fill(r['device_name'], 24)}",
         "tok_s", f"{phase} tok/s", legend_outside=True)
    ax.set_title(phase_title(phase) + (f"\n{no_gpu}" if no_gpu else ""), fontsize=9)
  return fig

FIGURES = {f.__name__: f for f in (backend_comparison, speedup_comparison, summary_stats, quantization_impact,
                                   latency_distribution, memory_throughput, param_throughput, device_comparison)}

def draw(names, folder: Path, out: Path, baseline: str = "tinygrad") -> list[Path]:
  data = load(folder)
  if not data.rows: raise AnalysisError(f"no status-ok benchmark rows in {folder}/*.csv: run a benchmark and its collate script first")
  summary = summarize(data)
  return [save(FIGURES[n](data, summary, baseline=baseline), out / f"{n}.png") for n in names]

def main(names, doc: str, argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(description=doc)
  p.add_argument("-d", "--dir", type=Path, default=Path("benchmark_output"), help="folder of collated CSVs (default: %(default)s)")
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
