"""The deck's story: one finding per slide, its title a sentence with its number, one chart drawn for the slide.

Each slide function reads the analysis's files (through Evidence) and returns a Slide, or the reason it has no data
(the deck then leaves it out and says so once, in the appendix). A chart is drawn at the size the slide shows it
(CHART_IN inches, placed 1:1), so a font's size here is its size on the slide: every text is at least FONT_PT, every
legend at most LEGEND_MAX entries. How a number was measured goes in the slide's small print, not in the picture.
No statistic is computed here: medians, intervals and ratios are the analysis's (summary.csv, ratios.csv), the
recommender's and the models'.
"""
from __future__ import annotations
import math, textwrap
from dataclasses import dataclass, field
from pathlib import Path
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from inferbench.core import memory, registry
from inferbench.core.stats import NOISY_CV, contended
from inferbench.core.files import save_figure
from inferbench.core.formats import knob
from inferbench.core.names import color, device_words, fmt, interval, knob_words, known, name, pct, pyplot
from inferbench.analyse.analysis import MATCH
from inferbench.report.plots import log_axis, number

plt = pyplot()

CHART_IN = (10.6, 4.1)  # the chart's box on a 16:9 slide (27 cm of width, less the title and the small print)
FONT_PT, LEGEND_MAX, DPI = 14, 6, 150
STYLE = {"font.size": FONT_PT, "axes.titlesize": FONT_PT, "axes.labelsize": FONT_PT, "xtick.labelsize": FONT_PT,
         "ytick.labelsize": FONT_PT, "legend.fontsize": FONT_PT, "legend.title_fontsize": FONT_PT, "axes.titleweight": "bold"}

@dataclass(frozen=True)
class Slide:
  name: str    # the chart's file stem
  title: str   # the finding, as a sentence with its number
  note: str    # the small print: how the number was measured
  image: str = ""
  problems: tuple[str, ...] = ()  # what a reader would trip on in the chart: a legend too long, a text too small

@dataclass(frozen=True)
class Evidence:
  """What the story reads: the analysis's tables, the recommender's answer and the folder's optional tables."""
  summary: pd.DataFrame
  ratios: pd.DataFrame
  folder: Path
  answer: pd.DataFrame = field(default_factory=pd.DataFrame)     # the recommender's candidates (excluded_by, rank, source)
  front: pd.DataFrame = field(default_factory=pd.DataFrame)      # its Pareto front
  limits: dict = field(default_factory=dict)                     # column -> the user's limit on it
  verification: pd.DataFrame = field(default_factory=pd.DataFrame)

  def table(self, file: str) -> pd.DataFrame:
    p = self.folder / file
    return pd.read_csv(p, keep_default_na=False, na_values=[""]) if p.is_file() else pd.DataFrame()

  @property
  def decode(self) -> pd.DataFrame: return self.summary[self.summary["phase"] == "decode"]

def times(r: float, lo: float = math.nan, hi: float = math.nan) -> str:
  """2.1× [1.9–2.3]: a ratio with its interval, where it has one."""
  return f"{r:.2f}×" + (f" [{i}]" if (i := interval(lo, hi)) else "")
def largest(df: pd.DataFrame, column: str):
  """The row with the largest value of column, None in an empty table."""
  return df.sort_values(column).iloc[-1] if len(df) else None
def ratio_text(q) -> str: return times(q["ratio"], q["ratio_ci95_low"], q["ratio_ci95_high"])  # a ratios.csv row's
def within_noise(q) -> bool:
  """A ratios.csv row whose 95% interval holds 1: its ratio says no difference, whichever side its median is on."""
  return bool(known(q["ratio_ci95_low"]) and known(q["ratio_ci95_high"]) and q["ratio_ci95_low"] <= 1 <= q["ratio_ci95_high"])
def contention(e: "Evidence", q) -> float:
  """The most of their CPUs other work kept busy during the runs of a ratios.csv row's two configurations (the mean over
  each one's runs; NaN where not measured): from stats.CONTENDED_SHARE on, the ratio measures the machine, not them."""
  d = e.decode[e.decode["config"].isin([q["config"], q["baseline_config"]])]
  return d["other_cpu_share_mean"].max() if "other_cpu_share_mean" in d and len(d) else math.nan
def comparable(e: "Evidence", ratios: pd.DataFrame) -> pd.DataFrame:
  """The ratios whose two sides ran on CPUs of their own."""
  return ratios[[not contended(contention(e, q)) for _, q in ratios.iterrows()]] if len(ratios) else ratios
def not_compared(e: "Evidence", ratios: pd.DataFrame) -> str:
  return f"not compared: other work kept up to {max(contention(e, q) for _, q in ratios.iterrows()):.0%} of the CPUs busy during their runs"
def with_interval(v: float, lo: float, hi: float) -> str: return fmt(v) + (f" [{i}]" if (i := interval(lo, hi)) else "")
def device_of(r) -> str: return device_words(r["device_name"]) if isinstance(r.get("device_name"), str) and r["device_name"] else r["device"]
def panel_title(ax, text: str): ax.set_title(textwrap.fill(text, int(CHART_IN[0] * 72 / FONT_PT * 1.15 / len(ax.figure.axes))), loc="left")
def model_of(r) -> str:
  m = registry.MODELS.get(r["size"])
  return (m.name if m else r["size"]) + (" shape (synthetic)" if r.get("weights") == "synthetic" else "")
def short_label(r, sep: str = "\n") -> str:
  """A configuration as a chart's tick names it, in two lines: what tells it apart (llama.cpp Q4_K_M, flash attention
  on), then the model and the device, without the threads and steps the full label also carries."""
  how = ", ".join(filter(None, [f"{name(r['backend'])} {quant_of(r)}", knob_words(r["knobs"]) if isinstance(r.get("knobs"), str) else ""]))
  model = model_of(r).replace("-Instruct", "").replace(" shape (synthetic)", " synthetic")
  return f"{how}{sep}{model}, {device_of(r)}"
def quant_of(r) -> str:
  """The file's type as GGUF names it (Q8_0, not the alias int8); a backend's own quantization by its own name."""
  t = r.get("model_type")
  return t if isinstance(t, str) and t and ";" not in t else r["quantize"]

def spread(ys: list[float], gap: float, log: bool) -> list[float]:
  """Label heights for line ends at ys, pushed apart to at least gap (in log10 units on a log axis)."""
  f, inv = (np.log10, lambda v: 10 ** v) if log else (lambda v: v, lambda v: v)
  order = np.argsort(ys)
  out = np.array([f(y) for y in ys], dtype=float)
  for a, b in zip(order, order[1:]): out[b] = max(out[b], out[a] + gap)
  return [inv(v) for v in out]

def chart(panels: int = 1, **kw):
  fig, axes = plt.subplots(1, panels, figsize=CHART_IN, layout="constrained", squeeze=False, **kw)
  return fig, list(axes[0])

def legend(ax, handles: list, **kw):
  """The story's legend; each caller draws at most LEGEND_MAX series, and legibility() says so where one does not."""
  if handles: ax.legend(handles=handles, framealpha=0.85, edgecolor="none", fontsize=FONT_PT, **kw)

def backend_handles(backends) -> list: return [Line2D([], [], marker="o", ls="", color=color(b), label=name(b), ms=10) for b in backends]

def legibility(fig, min_pt: float, legend_max: int = LEGEND_MAX) -> list[str]:
  """A figure's texts under min_pt and its legends over legend_max entries (what the deck's look test checks)."""
  small = sorted({f"{t.get_text()[:30]!r} at {t.get_fontsize():.0f} pt" for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_fontsize"))
                  if t.get_text().strip() and t.get_visible() and t.get_fontsize() < min_pt - 0.01})
  long = [f"a legend of {n} entries (at most {legend_max})" for ax in fig.axes if (lg := ax.get_legend()) and (n := len(lg.get_texts())) > legend_max]
  return [*(f"text {s} (under {min_pt:g} pt)" for s in small), *long]

def save(fig, out: Path, stem: str) -> tuple[str, tuple[str, ...]]:
  problems = tuple(legibility(fig, FONT_PT))
  save_figure(fig, out / f"{stem}.png", DPI)
  return f"{stem}.png", problems

# ---------------------------------------------------------------- the answer

def answer(e: Evidence, out: Path) -> Slide | str:
  c = e.answer
  if c.empty: return "the recommender had no candidates"
  ranked = c[c["rank"].notna()].sort_values("rank")
  if ranked.empty: return "no candidate satisfies the limits given"
  pick = ranked.iloc[0]
  quality = c["kl_mean"].notna().any()
  if not quality and c["memory_bytes"].isna().all(): return ranked_answer(e, ranked, out)
  fig, axes = chart(2 if quality else 1)
  mib = c["memory_bytes"] / 2**20
  front = set(e.front["config"]) if len(e.front) else set()
  picks = ranked.groupby("device", sort=False).head(1)  # the pick per device
  for ax, x, xlabel in zip(axes, ("memory", "kl_mean"), ("peak memory, MiB", "KL divergence to F16 (lower is better)")):
    xs = mib if x == "memory" else c["kl_mean"]
    for _, r in c.assign(_x=xs).dropna(subset=["_x", "tok_s"]).iterrows():
      out_of_limits = bool(r["excluded_by"])
      ax.scatter(r["_x"], r["tok_s"], s=90, marker="o" if r["device"] == "cpu" else "s", linewidths=1.5, zorder=3,
                 facecolors="none" if r["source"] == "predicted" or out_of_limits else color(r["backend"]),
                 edgecolors="#aaa" if out_of_limits else color(r["backend"]))
    f = c[c["config"].isin(front)].assign(_x=xs).dropna(subset=["_x"]).sort_values("_x")
    if len(f) > 1: ax.plot(f["_x"], f["tok_s"], "-", color="#c00", lw=1.5, zorder=2)
    for _, p in picks.iterrows():
      px = p["memory_bytes"] / 2**20 if x == "memory" else p["kl_mean"]
      if not known(px): continue
      ax.scatter(px, p["tok_s"], s=420, marker="*", color="#c00", zorder=4)
      if ax is axes[0]:
        ax.annotate(f"{device_of(p) + ': ' if len(picks) > 1 else ''}{name(p['backend'])} {quant_of(p)}, {fmt(p['tok_s'])} tok/s", (px, p["tok_s"]),
                    xytext=(12, 0), textcoords="offset points", va="center", color="#c00", fontweight="bold")
    limit = e.limits.get("memory_bytes" if x == "memory" else "kl_mean")
    if limit is not None:
      ax.axvline(limit / 2**20 if x == "memory" else limit, color="#444", ls="--", lw=1.5)
      ax.annotate(f"limit {memory.format_size(int(limit)) if x == 'memory' else fmt(limit)}", (limit / 2**20 if x == "memory" else limit, 1),
                  xycoords=("data", "axes fraction"), xytext=(4, -4), textcoords="offset points", va="top")
    if (floor := e.limits.get("tok_s")) is not None: ax.axhline(floor, color="#444", ls="--", lw=1.5)
    if x == "kl_mean":
      ax.set_xscale("symlog", linthresh=1e-3)
      ax.set_xlim(left=0)
      ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: fmt(v)))
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3)
  span = c["tok_s"].max() / max(c["tok_s"].min(), 1e-9)
  if span > 30:
    for ax in axes: log_axis(ax, span=span)
  axes[0].set_ylabel("decode tok/s")
  front_mark = [Line2D([], [], color="#c00", label="Pareto front")] if quality else []  # the pick's star is labelled where it is
  legend(axes[-1], [*backend_handles(sorted(set(c["backend"]))), *front_mark], loc="best")
  title = answer_title(e, pick)
  note = ("Filled: measured (median over runs, 95% CI in the title); hollow: predicted by the physical decode model, or grey: outside a limit. "
          "Circles CPU, squares GPU. " + ("The red line: the Pareto front of speed × quality × memory." if quality else
                                           "Quality not measured (llamacpp_sweep.py measures it): speed × memory only."))
  return Slide("answer", title, note, *save(fig, out, "story_answer"))

def answer_title(e: Evidence, pick) -> str:
  tok = with_interval(pick["tok_s"], pick["tok_s_ci95_low"], pick["tok_s_ci95_high"])
  title = (f"{name(pick['backend'])} {model_of(pick)} {quant_of(pick)} is the pick on {device_of(pick)}: {tok} decode tok/s"
           + (f", {memory.format_size(int(pick['memory_bytes']))}" if known(pick["memory_bytes"]) else ""))
  v = e.verification
  if len(v) and v["pick_config"].iloc[0] == pick["config"] and v["ratio"].notna().any():
    title += f"; measured again against {len(v)}: " + ", ".join(f"{n} {verdict}" for verdict, n in v["verdict"].value_counts().items())
  return title

def ranked_answer(e: Evidence, ranked: pd.DataFrame, out: Path) -> Slide:
  """Neither memory nor quality known (a server says neither): the candidates ranked by decode speed."""
  top = ranked.head(8).iloc[::-1]
  fig, (ax,) = chart(1)
  y = np.arange(len(top))
  ax.barh(y, top["tok_s"], color=[color(b) for b in top["backend"]], height=0.6, edgecolor=["#c00" if r == 1 else "none" for r in top["rank"]], linewidth=3)
  for yi, v in zip(y, top["tok_s"]): ax.annotate(fmt(v), (v, yi), xytext=(6, 0), textcoords="offset points", va="center")
  ax.set_yticks(y, [textwrap.shorten(l, 60, placeholder=" …") for l in top["label"]])
  ax.set_xlabel("decode tok/s"); ax.grid(alpha=0.3, axis="x")
  note = "The recommender's candidates within the limits, fastest first (the pick outlined); median over runs. Memory and quality unknown here."
  return Slide("answer", answer_title(e, ranked.iloc[0]), note, *save(fig, out, "story_answer"))

# ---------------------------------------------------------------- why: backends on the same file

def backends(e: Evidence, out: Path) -> Slide | str:
  r = e.ratios
  if r.empty or not (r["kind"] == "backend").any(): return "no model file was measured on two backends with every other setting equal"
  d = e.decode
  groups = []
  for _, same in d.groupby([k for k in MATCH if k in d.columns], sort=True):  # one matched configuration
    best = same.sort_values("tok_s_median").groupby("backend").tail(1).sort_values("tok_s_median", ascending=False)
    if len(best) > 1: groups.append(best)
  if not groups: return "no model file was measured on two backends with every other setting equal"
  groups = sorted(groups, key=lambda g: (-len(g), -g["tok_s_median"].max()))[:3]
  fig, axes = chart(len(groups), sharex=False)
  span = max(g["tok_s_median"].max() / g["tok_s_median"].min() for g in groups)
  pairs = []  # per panel: its two fastest backends and their ratio
  for ax, g in zip(axes, groups):
    g = g.iloc[::-1]
    y = np.arange(len(g))
    v, lo, hi = g["tok_s_median"].to_numpy(), g["tok_s_ci95_low"].to_numpy(), g["tok_s_ci95_high"].to_numpy()
    ax.barh(y, v, color=[color(b) for b in g["backend"]], height=0.6)
    ok = ~np.isnan(lo)
    ax.errorbar(v[ok], y[ok], xerr=[v[ok] - np.minimum(lo[ok], v[ok]), np.maximum(hi[ok], v[ok]) - v[ok]], fmt="none", ecolor="#111", capsize=4)
    for yi, vi, h in zip(y, v, np.fmax(hi, v)): ax.annotate(fmt(vi), (h, yi), xytext=(6, 0), textcoords="offset points", va="center")
    ax.set_yticks(y, [name(b) for b in g["backend"]])
    top = g.iloc[-1]
    panel_title(ax, f"{top['size']} {quant_of(top)}, {device_of(top)}")
    if span > 30: log_axis(ax, "x", span=span)
    ax.set_xlim(right=ax.get_xlim()[1] * (3 if span > 30 else 1.3))
    ax.set_xlabel("decode tok/s")
    q = r[(r["kind"] == "backend") & (r["phase"] == "decode") & (r["config"] == top["config"]) & (r["baseline_config"] == g.iloc[-2]["config"])]
    if len(q): pairs.append((top, g.iloc[-2], q.iloc[0]))
  if not pairs: return "the matched configurations have no ratio in ratios.csv"
  top, second, q = next((p for p in pairs if not contended(contention(e, p[2]))), pairs[0])  # the first panel's, where it is comparable
  title = (f"{name(top['backend'])} and {name(second['backend'])} on the same {quant_of(top)} file on {device_of(top)}: "
           + not_compared(e, pd.DataFrame([q])) if contended(contention(e, q)) else
           f"{name(top['backend'])} and {name(second['backend'])} decode the same {quant_of(top)} file on {device_of(top)} alike: "
           f"{ratio_text(q)}, within noise" if within_noise(q) else
           f"{name(top['backend'])} decodes {ratio_text(q)} faster than {name(second['backend'])} on the same {quant_of(top)} file on {device_of(top)}")
  note = ("Each backend's fastest setting on one model file, with the same token ids, threads, context and steps. Bars: median decode "
          "tok/s over runs, whiskers its 95% t-interval; the ratio's interval is a seeded bootstrap over runs.")
  return Slide("backends", title, note, *save(fig, out, "story_backends"))

# ---------------------------------------------------------------- the quantization trade-off

def quantization(e: Evidence, out: Path) -> Slide | str:
  d = e.decode.assign(bpw=lambda x: x["bits_per_weight"].map(number)).dropna(subset=["bpw"])
  if d.empty or d.groupby(["backend", "size", "device"])["quantize"].nunique().max() < 2: return "no backend was measured at two quantizations of one model"
  q = e.ratios[(e.ratios["kind"] == "quantization") & (e.ratios["phase"] == "decode")] if len(e.ratios) else pd.DataFrame()
  pick = e.answer[e.answer["rank"] == 1].iloc[0] if len(e.answer) and (e.answer["rank"] == 1).any() else None
  if len(q) and pick is not None and (mine := q[(q["backend"] == pick["backend"]) & (q["device"] == pick["device"])]).shape[0]: q = mine
  measured_beside_other_work, q = q, comparable(e, q)
  best, top = largest(q, "ratio"), largest(d, "tok_s_median")  # the finding: the largest speedup, on the pick's backend where it has one
  places = d.groupby(["device_name", "size"], sort=False).size().sort_values(ascending=False).index[:3]
  fig, axes = chart(len(places))
  for ax, (dev, size) in zip(axes, places):
    p = d[(d["device_name"] == dev) & (d["size"] == size)]
    fastest = p.sort_values("tok_s_median").groupby(["backend", "quantize"]).tail(1)  # each backend's fastest setting per file
    span = p["tok_s_median"].max() / p["tok_s_median"].min()
    ends = []
    for b, g in fastest.groupby("backend", sort=True):
      g = g.sort_values("bpw")
      ax.plot(g["bpw"], g["tok_s_median"], "o-", color=color(b), lw=2.5, ms=8)
      ends.append((b, g["bpw"].iloc[-1], g["tok_s_median"].iloc[-1]))
    log = span > 30 or len(ends) > 1 and span > 4
    gap = 0.075 * np.log10(max(span, 2) * 4) if log else 0.08 * (p["tok_s_median"].max() - p["tok_s_median"].min())
    for (b, x, y), at in zip(ends, spread([y for *_, y in ends], gap, log)):
      ax.annotate(f"{name(b)} {fmt(y)}", (x, y), xytext=(x + 0.4, at), textcoords="data", va="center", color=color(b),
                  arrowprops={"arrowstyle": "-", "color": color(b), "lw": 0.8})
    if best is not None:  # the title's ratio, on the point it is about
      for _, r in p[p["config"] == best["config"]].iterrows():
        ax.annotate(ratio_text(best), (r["bpw"], r["tok_s_median"]), xytext=(8, -10), textcoords="offset points", ha="left", va="top", fontweight="bold")
    ticks = fastest.drop_duplicates("model_type").sort_values("bpw")
    keep = ticks[ticks["bpw"].diff().fillna(99).abs() > 0.6]  # quantizations a hair apart share a tick
    ax.set_xticks(keep["bpw"], [t for t in keep["model_type"]], rotation=30)
    if log: log_axis(ax, span=span)
    ax.set_xlim(p["bpw"].min() - 1, p["bpw"].max() * 1.45)
    panel_title(ax, f"{model_of(p.iloc[0])}, {device_words(dev)}")
    ax.set_xlabel("bits per weight")
    ax.grid(alpha=0.3)
  axes[0].set_ylabel("decode tok/s")
  title = (f"{best['model_type'] or best['quantize']} decodes {ratio_text(best)} as fast as {best['baseline_model_type'] or best['baseline_quantize']} "
           f"on {name(best['backend'])} ({device_words(best['device_name']) if best['device_name'] else best['device']})"
           + (", within noise" if within_noise(best) else "") if best is not None else
           f"{quant_of(top)} decodes fastest, {fmt(top['tok_s_median'])} tok/s on {name(top['backend'])}; its quantizations "
           + not_compared(e, measured_beside_other_work) if len(measured_beside_other_work) else
           f"{quant_of(top)} decodes fastest: {fmt(top['tok_s_median'])} tok/s on {name(top['backend'])}")
  note = ("Median decode tok/s over runs of each backend's fastest setting per file; x: the GGUF file's bits per weight (a backend's own "
          "quantization: its own). The ratio: medians over runs against the most precise file, seeded bootstrap 95% CI.")
  return Slide("quantization", title, note, *save(fig, out, "story_quantization"))

# ---------------------------------------------------------------- scaling with length, context and batch

SCALING = (("context_scaling.csv", "n_prompt_tokens", "tok_s_median", "context depth, tokens", "decode tok/s", "ratio_vs_shallowest"),
           ("batch_scaling.csv", "batch", "tok_s_median", "batch", "aggregate decode tok/s", "speedup_vs_smallest"),
           ("token_scaling.csv", "n_decode_steps", "request_latency_ms", "generated tokens", "request latency, ms", None))

def scaling(e: Evidence, out: Path) -> Slide | str:
  tables = [(s, t) for s in SCALING if len(t := e.table(s[0]))]
  if not tables: return "no length, context or batch axis was varied with the rest of the configuration fixed"
  fig, axes = chart(len(tables))
  finding = None
  for ax, ((_, x, y, xlabel, ylabel, ratio), t) in zip(axes, tables):
    groups = list(t.groupby("group", sort=True))
    for g, d in groups[:LEGEND_MAX if len(tables) == 1 else 3]:  # a line a reader can follow: the rest are in the appendix's plots
      d = d.sort_values(x)
      ax.plot(d[x], d[y], "o-", lw=2.5, ms=7, label=g if len(groups) > 1 else None)
    if t[x].max() / max(t[x].min(), 1e-9) >= 4:
      ax.set_xscale("log", base=2)
      ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: fmt(v)))
    ax.set_xlabel(xlabel); ax.set_ylabel(ylabel); ax.grid(alpha=0.3)
    if len(groups) > 1: legend(ax, ax.get_legend_handles_labels()[0], loc="best")
    if finding is None and ratio:
      ends = t.sort_values(x).groupby("group").agg(lo=(x, "first"), hi=(x, "last"), r=(ratio, "last"))
      ends = ends[ends["hi"] > ends["lo"]]
      what = "decode rate" if x == "n_prompt_tokens" else "aggregate decode rate"
      axis = xlabel.split(",")[0]
      if len(ends) == 1:
        finding = f"The {what} at {axis} {fmt(ends['hi'].iloc[0])} is {ends['r'].iloc[0]:.2f}× that at {fmt(ends['lo'].iloc[0])} ({ends.index[0]})"
      elif len(ends):
        finding = (f"The {what} at the largest {axis} is {ends['r'].min():.2f}–{ends['r'].max():.2f}× that at the smallest, "
                   f"over {len(ends)} configurations")
  title = finding or f"Request latency grows with the tokens generated ({tables[0][1]['group'].iloc[0]})"
  note = ("One axis varied, every other setting fixed; median over runs (batch: aggregate over the batch's sequences). With several panels, "
          "the first three configurations each: the appendix's scaling plots show every one.")
  return Slide("scaling", title, note, *save(fig, out, "story_scaling"))

# ---------------------------------------------------------------- serving under load

def serving(e: Evidence, out: Path) -> Slide | str:
  t = e.table("concurrency_scaling.csv")
  if t.empty: return "no server was measured at two concurrencies"
  fig, (ax,) = chart(1)
  groups = list(t.groupby("group", sort=True))
  for g, d in groups[:LEGEND_MAX]:
    d = d.sort_values("concurrency")
    v = d["aggregate_tok_s_median"]
    ax.errorbar(d["concurrency"], v, yerr=[v - d["aggregate_tok_s_ci95_low"].fillna(v), d["aggregate_tok_s_ci95_high"].fillna(v) - v],
                fmt="o-", lw=2.5, ms=7, capsize=4, label=g)
  ax.set_xscale("log", base=2)
  ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: fmt(v)))
  ax.set_xlabel("concurrent clients"); ax.set_ylabel("aggregate decode tok/s"); ax.grid(alpha=0.3)
  legend(ax, ax.get_legend_handles_labels()[0], loc="upper left")
  r = e.ratios
  serve = set(e.summary.loc[e.summary["mode"].isin(("endpoint", "in-process")), "config"])
  s = r[(r["kind"] == "setting") & (r["phase"] == "decode") & r["config"].isin(serve)] if len(r) else r
  best, top = largest(s, "ratio"), largest(t, "aggregate_tok_s_median")
  if best is not None:  # the title's ratio, on the point it is about
    for _, at in e.decode[e.decode["config"] == best["config"]].iterrows():
      ax.annotate(ratio_text(best), (number(at["concurrency"]), at["aggregate_tok_s_median"]), xytext=(0, 14), textcoords="offset points",
                  ha="center", fontweight="bold")
  title = (f"Batching serves {ratio_text(best)} the tokens of max batch 1 at concurrency {fmt(number(best['concurrency']))} ({name(best['backend'])})"
           if best is not None else f"The server peaks at {fmt(top['aggregate_tok_s_median'])} tok/s at concurrency {fmt(top['concurrency'])}")
  note = "A round is the sample: each load level's aggregate tok/s is one figure per log; whiskers: 95% t-interval over rounds."
  return Slide("serving", title, note, *save(fig, out, "story_serving"))

# ---------------------------------------------------------------- memory and the OOM boundary

def memory_limits(e: Evidence, out: Path) -> Slide | str:
  d = e.decode.assign(ctx=lambda x: pd.to_numeric(x["ctx"], errors="coerce"), batch=lambda x: pd.to_numeric(x["batch"], errors="coerce"))
  d = d.assign(peak=d["peak_device_bytes"].where(d["device"] == "cuda", d["peak_rss_bytes"]), positions=d["ctx"] * d["batch"]).dropna(subset=["peak"])
  same = ["backend", "device", "size", "quantize", "knobs"]
  sweep = d[d.groupby(same)["positions"].transform("nunique") > 1]
  lim = e.table("limits.csv")
  if sweep.empty and lim.empty: return "no peak memory measured at two context × batch sizes, and no find_limits.py search (limits.csv)"
  fig, axes = chart(int(not sweep.empty) + int(not lim.empty))
  title = None
  if not sweep.empty:
    ax = axes[0]
    key, g = max(sweep.groupby(same), key=lambda kv: len(kv[1]))  # the configuration measured at the most sizes
    for i, (b, bd) in enumerate(list(g.groupby("batch", sort=True))[:LEGEND_MAX]):
      bd = bd.sort_values("positions")
      c = plt.cm.viridis(i / 4)
      ax.plot(bd["positions"], bd["peak"] / 2**20, "o-", color=c, lw=2.5, ms=7, label=f"batch {b:g}")
      ax.plot(bd["positions"], bd["predicted_bytes"] / 2**20, "--", color=c, lw=1.5)
    ax.set_xscale("log", base=2); ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: fmt(v)))
    ax.set_xlabel("KV cache positions (context × batch)"); ax.set_ylabel("peak memory, MiB"); ax.grid(alpha=0.3)
    legend(ax, ax.get_legend_handles_labels()[0], loc="upper left", title="solid measured, dashed predicted")
    err = (100 * (g["predicted_bytes"] / g["peak"] - 1)).abs().dropna()
    title = f"Peak memory of {name(key[0])} {key[3]} is predicted within {err.max():.0f}% over {len(g)} context × batch sizes" if len(err) else None
  if not lim.empty:
    ax = axes[-1]
    y = np.arange(len(lim))
    ax.barh(y - 0.2, lim["ctx_fits"], height=0.4, color="#4C72B0", label="largest context that ran")
    ax.barh(y + 0.2, lim["predicted_ctx"], height=0.4, color="#ccc", edgecolor="#444", label="predicted")
    ax.set_yticks(y, [f"batch {b}" for b in lim["batch"]])
    ax.set_xlabel(f"context under {memory.format_size(int(lim['limit_bytes'].iloc[0]))}, tokens"); ax.grid(alpha=0.3, axis="x")
    legend(ax, ax.get_legend_handles_labels()[0], loc="upper right")
    r = lim.iloc[0]
    title = (f"Under {memory.format_size(int(r['limit_bytes']))} the largest context is {r['ctx_fits']:.0f} at batch {r['batch']:.0f}: "
             f"predicted {r['predicted_ctx']:.0f}" + (f"; {title[0].lower()}{title[1:]}" if title else ""))
  title = title or "Peak memory against context × batch"
  note = "Peak: RSS on a CPU, device memory on a GPU; predicted from weights, KV cache and compute buffers. The boundary: find_limits.py's search under the limit."
  return Slide("memory", title, note, *save(fig, out, "story_memory"))

# ---------------------------------------------------------------- how close to the hardware's limit

def roofline(e: Evidence, out: Path) -> Slide | str:
  d = e.decode.dropna(subset=["pct_of_roofline"])
  if d.empty: return "no configuration has a measured memory bandwidth (roofline_gb_s)"
  best = d.sort_values("pct_of_roofline").groupby(["backend", "device_name"]).tail(1).sort_values("pct_of_roofline")
  fig, (ax,) = chart(1)
  y = np.arange(len(best))
  shown = best["pct_of_roofline"].clip(upper=100)
  ax.barh(y, shown, color=[color(b) for b in best["backend"]], height=0.6, hatch=["//" if p > 100 else "" for p in best["pct_of_roofline"]])
  for yi, (_, r) in zip(y, best.iterrows()):
    over = r["pct_of_roofline"] > 100
    ax.annotate(("above the ceiling: its bytes model does not fit" if over else f"{r['pct_of_roofline']:.0f}%") +
                f"  ({r['size']} {quant_of(r)}, of {fmt(r['roofline_gb_s'])} GB/s)", (min(r["pct_of_roofline"], 100), yi), xytext=(6, 0),
                textcoords="offset points", va="center")
  ax.axvline(100, color="#a00", ls=":", lw=1.5)
  ax.set_yticks(y, [f"{name(b)}, {device_words(dv)}" for b, dv in zip(best["backend"], best["device_name"])])
  ax.set_xlim(0, 200)
  ax.set_xticks([0, 25, 50, 75, 100])
  ax.set_xlabel("% of the measured memory bandwidth")
  ax.grid(alpha=0.3, axis="x")
  ok = best[best["pct_of_roofline"] <= 100]
  top = (ok if len(ok) else best).iloc[-1]
  title = (f"{name(top['backend'])} reaches {top['pct_of_roofline']:.0f}% of the measured memory bandwidth on {device_of(top)} "
           f"({model_of(top)} {quant_of(top)})")
  note = ("Bytes a decode token reads (weights once + the KV cache) ÷ its time, against the host's measured read bandwidth; each backend's "
          "best configuration. Above 100% would mean the bytes model is wrong there, so it is shown as not fitting.")
  return Slide("roofline", title, note, *save(fig, out, "story_roofline"))

# ---------------------------------------------------------------- energy

def energy(e: Evidence, out: Path) -> Slide | str:
  d = e.decode[e.decode["j_per_token"].notna()] if "j_per_token" in e.decode else e.decode.iloc[:0]
  if d.empty: return "no run read an energy counter (NVML on a GPU, RAPL on a CPU): energy was not measured"
  d = d.sort_values("j_per_token").head(8).iloc[::-1]  # the most frugal first, at the top
  fig, (ax,) = chart(1)
  y = np.arange(len(d))
  v, lo, hi = d["j_per_token"].to_numpy(), d["j_per_token_ci95_low"].to_numpy(), d["j_per_token_ci95_high"].to_numpy()
  ax.barh(y, v, color=[color(b) for b in d["backend"]], height=0.6)
  ok = ~np.isnan(lo)
  ax.errorbar(v[ok], y[ok], xerr=[v[ok] - np.minimum(lo[ok], v[ok]), np.maximum(hi[ok], v[ok]) - v[ok]], fmt="none", ecolor="#111", capsize=4)
  for yi, (_, r) in zip(y, d.iterrows()):
    ax.annotate(f"{fmt(r['j_per_token'])} J/token at {fmt(r['watts_mean'])} W", (np.nanmax([r["j_per_token"], r["j_per_token_ci95_high"]]), yi),
                xytext=(6, 0), textcoords="offset points", va="center")
  ax.set_yticks(y, [short_label(r) for _, r in d.iterrows()], linespacing=1.1)
  ax.set_xlim(right=ax.get_xlim()[1] * 1.6)
  ax.set_xlabel("decode joules per token"); ax.grid(alpha=0.3, axis="x")
  top = d.iloc[-1]
  title = (f"{name(top['backend'])} {model_of(top)} {quant_of(top)} spends the least energy on {device_of(top)}: "
           f"{with_interval(top['j_per_token'], top['j_per_token_ci95_low'], top['j_per_token_ci95_high'])} J per decode token")
  note = (f"Energy counters read around every measured run ({', '.join(sorted(set(d['energy_measured'])))}: NVML's total energy on a GPU, RAPL's "
          "package on a CPU), pooled over runs with a t-interval; the 8 lowest configurations.")
  return Slide("energy", title, note, *save(fig, out, "story_energy"))

def splits(e: Evidence, out: Path) -> Slide | str:
  d = e.decode.assign(mode=knob(e.decode["knobs"].astype(str), "split_mode"), gpus=knob(e.decode["knobs"].astype(str), "gpus").astype(float))
  d = d[d["mode"].notna() & d["gpus"].notna()]
  if d.empty: return "no configuration was split over GPUs (llama.cpp's --split-mode and --gpus)"
  fig, (ax,) = chart(1)
  for mode, m in d.groupby("mode", sort=True):
    m = m.groupby("gpus", as_index=False).agg(v=("tok_s_median", "median"), lo=("tok_s_ci95_low", "median"), hi=("tok_s_ci95_high", "median"))
    ax.errorbar(m["gpus"], m["v"], yerr=[(m["v"] - m["lo"]).clip(lower=0).fillna(0), (m["hi"] - m["v"]).clip(lower=0).fillna(0)],
                fmt="o-", lw=2.5, ms=7, capsize=4, label=f"split by {mode}")
  ax.set_xscale("log", base=2)
  ax.set_xticks(sorted(d["gpus"].unique()), [fmt(g) for g in sorted(d["gpus"].unique())])
  ax.set_xlabel("GPUs the model is split over"); ax.set_ylabel("decode tok/s (median)"); ax.grid(alpha=0.3)
  legend(ax, ax.get_legend_handles_labels()[0], loc="best")
  top = d.loc[d["tok_s_median"].idxmax()]
  title = (f"{name(top['backend'])} {model_of(top)} {quant_of(top)} decodes fastest split by {top['mode']} over {fmt(top['gpus'])} "
           f"GPU{'s' if top['gpus'] != 1 else ''}: {with_interval(top['tok_s_median'], top['tok_s_ci95_low'], top['tok_s_ci95_high'])} tok/s")
  note = (f"llama.cpp's split modes on {device_of(top)}, each point the median over runs with its 95% t-interval (the median of "
          "the configurations at that point where several were measured).")
  return Slide("splits", title, note, *save(fig, out, "story_splits"))

# ---------------------------------------------------------------- predictions

QUANTITY = {"decode_ms": ("decode", "ms/token", 1), "ttft_ms": ("time to first token", "ms", 1), "peak_bytes": ("peak memory", "MiB", 2**20)}

def predictions(e: Evidence, out: Path, result: dict) -> Slide | str:
  t = e.table("model_fit.csv")
  if not result or t.empty: return "fit_models.py did not run"
  split = "holdout" if result["holdout"].get("n_configs") else "cv"
  t = t[t["split"] == split]
  meas = t[t["source"] == "measured"].set_index(["config", "quantity"])["value"]
  p = t[t["source"] == "predicted"].assign(measured=lambda d: [meas.get((c, q), np.nan) for c, q in zip(d["config"], d["quantity"])])
  p = p.dropna(subset=["measured", "value"])
  if p.empty: return "the physical models declined to predict on this data (models.json says why, per backend)"
  qs = [q for q in QUANTITY if (p["quantity"] == q).any()]
  fig, axes = chart(len(qs))
  s = result[split]
  for ax, q in zip(axes, qs):
    what, unit, scale = QUANTITY[q]
    d = p[p["quantity"] == q]
    for b, g in d.groupby("backend", sort=True): ax.scatter(g["measured"] / scale, g["value"] / scale, s=80, color=color(b), label=name(b), zorder=3)
    v = np.concatenate([d["measured"], d["value"]]) / scale
    lo, hi = v.min() / 1.3, v.max() * 1.3
    ax.plot([lo, hi], [lo, hi], "--", color="#777")
    ax.fill_between([lo, hi], [lo / 1.1, hi / 1.1], [lo * 1.1, hi * 1.1], color="#777", alpha=0.15)
    for a in ("x", "y"): log_axis(ax, a, span=hi / lo)
    ax.set_xlim(lo, hi); ax.set_ylim(lo, hi)
    ax.set_title(f"{what}: {pct(s.get(f'{q}_mape_pct'))} off", loc="left")
    ax.set_xlabel(f"measured, {unit}")
    ax.grid(alpha=0.3, which="both")
  axes[0].set_ylabel("predicted")
  legend(axes[0], axes[0].get_legend_handles_labels()[0], loc="upper left")
  best = min(qs, key=lambda q: s.get(f"{q}_mape_pct") or 1e9)
  where = f"sizes {', '.join(result['holdout_sizes'])} held out of every fit" if split == "holdout" else "each configuration left out of its own fit"
  declined = [QUANTITY[q][0] for q in QUANTITY if q not in qs]
  title = (f"The physical models predict {QUANTITY[best][0]} within {pct(s.get(f'{best}_mape_pct'))} on average, out of sample"
           + (f"; they decline {' and '.join(declined)}" if declined else ""))
  note = f"Mean absolute percentage error, {where}; shaded: ±10%. A model that does not fit its runs predicts nothing (models.json says why)."
  return Slide("predictions", title, note, *save(fig, out, "story_predictions"))

# ---------------------------------------------------------------- what to be careful about

def caveats(e: Evidence, out: Path) -> Slide | str:
  d = e.decode.dropna(subset=["cv"]).sort_values("cv")
  if d.empty: return "no configuration has runs enough for a cv"
  fig, (ax,) = chart(1)
  y = np.arange(len(d))
  flagged = d["noisy"] | d.get("imprecise", False)
  ax.barh(y, 100 * d["cv"], color=["#c00" if f else "#999" for f in flagged], height=0.7)
  ax.axvline(100 * NOISY_CV, color="#c00", ls="--", lw=1.5)
  # above the bars: red on a red bar would not show, and the box of the widest holds the lower right
  ax.annotate(f"noisy: cv ≥ {NOISY_CV:.0%}", (100 * NOISY_CV, 1.0), xycoords=("data", "axes fraction"), xytext=(6, 3), textcoords="offset points",
              va="bottom", color="#c00")
  worst = "\n".join(f"{r['cv']:.0%}  " + short_label(r, "\n       ") for _, r in d.tail(3).iloc[::-1].iterrows())
  ax.text(0.99, 0.03, f"the widest:\n{worst}", transform=ax.transAxes, ha="right", va="bottom", multialignment="left", linespacing=1.4,
          bbox={"facecolor": "white", "edgecolor": "#ccc", "alpha": 0.9})
  ax.set_yticks([])
  ax.set_ylabel(f"{len(d)} decode configurations")
  ax.set_xlabel("run-to-run variation (cv over runs), %")
  ax.set_xlim(0, max(100 * d["cv"].max() * 1.15, 20))
  ax.grid(alpha=0.3, axis="x")
  n_noisy, n_ci = int(d["noisy"].sum()), int(e.decode["tok_s_ci95_low"].isna().sum())
  n_imprecise = int((d.get("imprecise", False) & ~d["noisy"]).sum())
  n_contended = int(e.decode["other_cpu_share_mean"].map(contended).sum()) if "other_cpu_share_mean" in e.decode else 0
  title = (f"{n_noisy} of {len(e.decode)} decode measurements are noisy (cv ≥ {NOISY_CV:.0%})" if n_noisy else
           f"Every decode measurement is steady: cv under {NOISY_CV:.0%} for all {len(e.decode)}") + \
          (f", {n_imprecise} more imprecise" if n_imprecise else "") + (f"; {n_ci} have no interval" if n_ci else "") + \
          (f"; {n_contended} measured beside other work" if n_contended else "")
  note = ("Red: noisy, or imprecise (an interval wider than the --target-ci asked). Flagged, never dropped; every flag is in the appendix."
          + (" Beside other work: other processes kept 10% or more of the CPUs busy during its runs; its ratios are not compared."
             if n_contended else ""))
  return Slide("caveats", title, note, *save(fig, out, "story_caveats"))

SLIDES = {"answer": answer, "backends": backends, "quantization": quantization, "scaling": scaling, "serving": serving,
          "memory": memory_limits, "roofline": roofline, "energy": energy, "splits": splits, "caveats": caveats}
TOPICS = {"answer": "The answer", "backends": "Backends on matched files", "quantization": "The quantization trade-off",
          "scaling": "Scaling with length, context and batch", "serving": "Serving under load", "memory": "Memory and the OOM boundary",
          "roofline": "How close to the hardware's limit", "energy": "Energy per token", "splits": "One model split over GPUs",
          "predictions": "Predictions",
          "caveats": "What to be careful about"}

def tell(e: Evidence, out: Path, models: dict) -> tuple[list[Slide], list[dict]]:
  """The story's slides in order, and the topics left out with why."""
  out.mkdir(parents=True, exist_ok=True)
  for old in out.glob("story_*.png"): old.unlink()  # a slide whose data went away must not keep its old chart
  slides, left_out = [], []
  for topic in TOPICS:
    with plt.rc_context(STYLE): got = predictions(e, out, models) if topic == "predictions" else SLIDES[topic](e, out)
    if isinstance(got, Slide): slides.append(got)
    else: left_out.append({"topic": TOPICS[topic], "why": got})
  return slides, left_out
