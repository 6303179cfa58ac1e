"""Scaling tables and plots from summary.csv (one row per configuration and phase):
how latency and throughput move with one workload axis while the rest of the configuration stays the same.

  token_scaling.csv       by output length (n_decode_steps): decode tok/s, step latency, TTFT, request latency
  temperature_effect.csv  by temperature, against the lowest: the change and whether the 95% CIs overlap
  context_scaling.csv     by context depth (n_prompt_tokens: the prompt fills that many positions before decoding)
  batch_scaling.csv       by batch: aggregate and per-sequence decode tok/s, speedup over batch 1, peak memory
  concurrency_scaling.csv a server by closed-loop concurrency: aggregate tok/s and goodput (over rounds), TTFT, ITL
  rate_scaling.csv        a server by request rate (open loop): TTFT and ITL p50/p99, goodput, queue time
  timeout_scaling.csv     a batching server by its batch timeout: aggregate tok/s, TTFT

Each table keeps one row per configuration (as the summary keys them) that has at least one sibling differing only
in that axis; `group` names what else varies between the rows. A table without such rows is not written.
"""
from __future__ import annotations
from pathlib import Path
import pandas as pd
from inferbench.core.config import IDENTITY
from inferbench.core.files import save_figure
from inferbench.core.formats import knob, varying_knobs
from inferbench.core import files, names

KEYS = list(IDENTITY)  # what keys a configuration (core/config.py)
MiB = 2**20

AXES = ("ctx", "batch", "n_prompt_tokens", "n_decode_steps", "temperature", "threads", "concurrency", "request_rate")

def _numbers(df: pd.DataFrame) -> pd.DataFrame:
  """The summary spells its settings as text ("2048"); the axes are numbers here, so they sort and scale as numbers."""
  return df.assign(**{a: pd.to_numeric(df[a], errors="coerce") for a in AXES if a in df.columns})

def _with_groups(df: pd.DataFrame, axis: str) -> pd.DataFrame:
  """Decode rows with a `group` label: the configuration less the axis. Only groups with >= 2 values of the axis."""
  d = _numbers(df[df["phase"] == "decode"])
  keys = [k for k in KEYS if k in d.columns and k != axis]
  d[keys] = d[keys].astype(object).fillna("")
  d = d[d.groupby(keys)[axis].transform("nunique") > 1]
  varying = [k for k in keys if d[k].nunique() > 1]
  shown = d[varying].map(lambda v: f"{v:g}" if isinstance(v, float) else str(v))
  if "knobs" in varying: shown["knobs"] = varying_knobs(shown["knobs"].tolist())
  spell = lambda k, v: IDENTITY[k](v) if v not in ("", "nan") else ""
  d["group"] = shown.agg(lambda r: ", ".join(w for k, v in zip(varying, r) if (w := spell(k, v))), axis=1) if varying else "all"
  return d.sort_values(["group", axis]).reset_index(drop=True)

def _prefill(df: pd.DataFrame, d: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
  """Columns of each row of d (decode rows of df) from its configuration's prefill row: the time to first token."""
  keys = [k for k in KEYS if k in df.columns]
  pre = _numbers(df[df["phase"] == "prefill"])[keys + columns].astype({k: object for k in keys}).fillna({k: "" for k in keys}).drop_duplicates(keys)
  return d[keys].astype(str).merge(pre.astype({k: str for k in keys}), on=keys, how="left")[columns].set_axis(d.index)

RATE = ["tok_s_median", "tok_s_ci95_low", "tok_s_ci95_high", "n_runs"]

def token_scaling(df: pd.DataFrame) -> pd.DataFrame | None:
  d = _with_groups(df, "n_decode_steps")
  if d.empty: return None
  d["ttft_ms_median"] = _prefill(df, d, ["ttft_ms_median"])["ttft_ms_median"]
  # a request's latency: its first token, then n decode steps at the median rate
  d["request_latency_ms"] = d["ttft_ms_median"] + d["n_decode_steps"] * 1e3 / d["tok_s_median"]
  return d[["group", "n_decode_steps", *RATE, "latency_ms_p50", "latency_ms_p99", "ttft_ms_median", "request_latency_ms"]]

def temperature_effect(df: pd.DataFrame) -> pd.DataFrame | None:
  d = _with_groups(df, "temperature")
  if d.empty: return None
  base = d.groupby("group")[["temperature", "tok_s_median", "tok_s_ci95_low", "tok_s_ci95_high"]].transform("first")
  d["change_pct_vs_lowest"] = 100 * (d["tok_s_median"] / base["tok_s_median"] - 1)
  # "no effect" is a statement about intervals: do this temperature's and the lowest's 95% CIs overlap? (blank: no CI)
  overlap = (d["tok_s_ci95_low"] <= base["tok_s_ci95_high"]) & (base["tok_s_ci95_low"] <= d["tok_s_ci95_high"])
  d["ci_overlaps_lowest"] = overlap.where(d["tok_s_ci95_low"].notna() & base["tok_s_ci95_low"].notna())
  d["lowest_temperature"] = base["temperature"]
  return d[["group", "temperature", *RATE, "lowest_temperature", "change_pct_vs_lowest", "ci_overlaps_lowest"]]

def context_scaling(df: pd.DataFrame) -> pd.DataFrame | None:
  d = _with_groups(df, "n_prompt_tokens")
  if d.empty: return None
  d["ratio_vs_shallowest"] = d["tok_s_median"] / d.groupby("group")["tok_s_median"].transform("first")
  return d[["group", "n_prompt_tokens", *RATE, "ratio_vs_shallowest", "latency_ms_p50", "peak_rss_bytes", "predicted_bytes"]]

def batch_scaling(df: pd.DataFrame) -> pd.DataFrame | None:
  d = _with_groups(df, "batch")
  if d.empty: return None
  d["speedup_vs_smallest"] = d["tok_s_median"] / d.groupby("group")["tok_s_median"].transform("first")
  return d[["group", "batch", *RATE, "tok_s_per_seq_median", "speedup_vs_smallest", "latency_ms_p50", "peak_rss_bytes",
            "peak_device_bytes", "predicted_bytes"]]

LOAD = [f"{m}_{s}" for m in ("aggregate_tok_s", "goodput_rps") for s in ("median", "ci95_low", "ci95_high")] + ["prompts_per_s_median", "n_logs"]

def _serving(df: pd.DataFrame, axis: str) -> pd.DataFrame:
  if "mode" not in df.columns or not (df["mode"] == "endpoint").any(): return pd.DataFrame()
  d = _with_groups(df[df["mode"] == "endpoint"], axis)
  if d.empty: return d
  ttft = _prefill(df.assign(knobs=df.get("all_knobs", df["knobs"])), d.assign(knobs=d.get("all_knobs", d["knobs"])), ["ttft_ms_p50", "ttft_ms_p99"])
  return d.assign(ttft_ms_p50=ttft["ttft_ms_p50"], ttft_ms_p99=ttft["ttft_ms_p99"], itl_ms_p50=d["latency_ms_p50"], itl_ms_p99=d["latency_ms_p99"])

def concurrency_scaling(df: pd.DataFrame) -> pd.DataFrame | None:
  d = _serving(df, "concurrency")
  return None if d.empty else d[["group", "backend", "size", "quantize", "concurrency", *LOAD, "ttft_ms_p50", "itl_ms_p50"]]

def rate_scaling(df: pd.DataFrame) -> pd.DataFrame | None:
  d = _serving(df, "request_rate")
  return None if d.empty else d[["group", "backend", "size", "quantize", "request_rate", *LOAD, "ttft_ms_p50", "ttft_ms_p99", "itl_ms_p50", "itl_ms_p99",
                                 "server_queue_ms_p50", "e2e_latency_ms_p50", "e2e_latency_ms_p99"]]

def timeout_scaling(df: pd.DataFrame) -> pd.DataFrame | None:
  """The batch timeout is one of the server's knobs: an axis here, the rest of its knobs the group."""
  if "knobs" not in df.columns: return None
  timeout = knob(df["knobs"], "batch_timeout_ms")
  df = df[timeout.notna()].assign(batch_timeout_ms=pd.to_numeric(timeout.dropna()), all_knobs=df["knobs"],
                                  knobs=df["knobs"].str.replace(r" ?batch_timeout_ms=[^ ]+", "", regex=True).str.strip())
  d = _serving(df, "batch_timeout_ms")
  return None if d.empty else d[["group", "backend", "size", "quantize", "batch_timeout_ms", *LOAD, "ttft_ms_p50", "itl_ms_p50"]]

# --- plots ---

def _figure(title: str, df: pd.DataFrame, panels: int = 1, sample: str = "runs"):
  plt = names.pyplot()
  fig, axes = plt.subplots(1, panels, figsize=(8 if panels == 1 else 11, 4.8), squeeze=False)
  r, n = df.iloc[0], df["n_logs" if sample == "rounds" else "n_runs"]
  runs = f"{int(n.min())}" + (f"-{int(n.max())}" if n.nunique() > 1 else "")
  fig.suptitle(f"{title}\n{r.get('model_name') or r['size']} {r['quantize']}, {names.name(r['backend'])} on "
               f"{r.get('device_name') or r.get('device') or 'unknown device'} ({r['hostname']}); "
               f"median of {runs} {sample} per point", fontsize=9)
  for ax in axes[0]: ax.grid(True, alpha=0.3)
  return (fig, axes[0][0]) if panels == 1 else (fig, axes[0])

def _whiskers(ax, x, lo, hi, color=None):
  """The 95% interval as it is (a median may lie outside the t-interval of a skewed sample's mean); none where blank."""
  has = lo.notna() & hi.notna()
  if has.any(): ax.errorbar(x[has], (lo[has] + hi[has]) / 2, yerr=(hi[has] - lo[has]) / 2, fmt="none", ecolor=color, capsize=3, elinewidth=0.9)

def _series(group: str, what: str) -> str: return what if group == "all" else f"{group} {what}"

def _log_y(ax):
  from matplotlib.ticker import FuncFormatter
  ax.set_yscale("log")
  ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
  ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if str(v)[0] in "25" else ""))

def _save(fig, path: Path) -> Path:
  for ax in fig.axes:
    if ax.get_legend_handles_labels()[0]: ax.legend(fontsize=7)
  return save_figure(fig, path, 130)

def _meta(table: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
  """The summary's descriptive columns for a table's titles (model, device, host)."""
  cols = [c for c in ("model_name", "size", "quantize", "backend", "device_name", "device", "hostname") if c in summary.columns and c not in table.columns]
  src = summary[summary["phase"] == "decode"]
  if "backend" in table.columns: src = src[src["backend"].isin(table["backend"])]
  return pd.concat([table.reset_index(drop=True), src[cols].head(1).reset_index(drop=True)], axis=1).ffill()

def plot_token_scaling(t: pd.DataFrame, summary: pd.DataFrame, path: Path) -> Path:
  fig, ax = _figure("Request latency vs generated tokens (TTFT + n steps at the median decode rate)", _meta(t, summary))
  for g, d in t.groupby("group"): ax.plot(d["n_decode_steps"], d["request_latency_ms"], "o-", label=g)
  ax.set_xlabel("generated tokens (decode steps)"); ax.set_ylabel("latency, ms")
  return _save(fig, path)

def plot_temperature_effect(t: pd.DataFrame, summary: pd.DataFrame, path: Path) -> Path:
  fig, ax = _figure("Decode tok/s by temperature: median, whiskers 95% CI over runs (overlap: no measurable effect)", _meta(t, summary))
  for g, d in t.groupby("group"):
    (line,) = ax.plot(d["temperature"], d["tok_s_median"], "o-", label=g)
    _whiskers(ax, d["temperature"], d["tok_s_ci95_low"], d["tok_s_ci95_high"], line.get_color())
  ax.set_xlabel("temperature"); ax.set_ylabel("decode tok/s")
  return _save(fig, path)

def plot_context_scaling(t: pd.DataFrame, summary: pd.DataFrame, path: Path) -> Path:
  fig, ax = _figure("Decode tok/s vs context depth (the prompt fills d positions first)", _meta(t, summary))
  for g, d in t.groupby("group"): ax.plot(d["n_prompt_tokens"], d["tok_s_median"], "o-", label=g)
  ax.set_xscale("log", base=2)
  ax.set_xlabel("context depth d, positions"); ax.set_ylabel("decode tok/s (aggregate over the batch)")
  return _save(fig, path)

def plot_batch_scaling(t: pd.DataFrame, summary: pd.DataFrame, path: Path) -> Path:
  fig, ax = _figure("Decode tok/s vs batch: aggregate (solid) and per sequence (dashed)", _meta(t, summary))
  for g, d in t.groupby("group"):
    (line,) = ax.plot(d["batch"], d["tok_s_median"], "o-", label=f"{g} aggregate")
    ax.plot(d["batch"], d["tok_s_per_seq_median"], "s--", color=line.get_color(), label=f"{g} per sequence")
  ax.set_xscale("log", base=2); ax.set_xticks(sorted(t["batch"].unique()), [str(b) for b in sorted(t["batch"].unique())])
  ax.set_xlabel("batch (sequences decoded together)"); ax.set_ylabel("decode tok/s")
  return _save(fig, path)

def plot_concurrency_scaling(t: pd.DataFrame, summary: pd.DataFrame, path: Path) -> Path:
  fig, (tput, good) = _figure("A server under a closed loop: throughput and goodput vs concurrency, per server setting "
                              "(whiskers: 95% CI over rounds)", _meta(t, summary), panels=2, sample="rounds")
  for g, d in t.groupby("group"):
    (line,) = tput.plot(d["concurrency"], d["aggregate_tok_s_median"], "o-", label=g)
    _whiskers(tput, d["concurrency"], d["aggregate_tok_s_ci95_low"], d["aggregate_tok_s_ci95_high"], line.get_color())
    if d["goodput_rps_median"].notna().any():
      good.plot(d["concurrency"], d["goodput_rps_median"], "o-", color=line.get_color(), label=g)
      _whiskers(good, d["concurrency"], d["goodput_rps_ci95_low"], d["goodput_rps_ci95_high"], line.get_color())
  for ax in (tput, good): ax.set_xscale("log", base=2); ax.set_xticks(sorted(t["concurrency"].unique()), [f"{c:g}" for c in sorted(t["concurrency"].unique())]); ax.set_xlabel("concurrency (requests in flight)")
  tput.set_ylabel("aggregate tok/s (all requests' tokens / wall time)"); good.set_ylabel("goodput, requests/s within the SLOs")
  return _save(fig, path)

def plot_rate_scaling(t: pd.DataFrame, summary: pd.DataFrame, path: Path) -> Path:
  fig, (ttft, itl) = _figure("A server under Poisson arrivals: TTFT and inter-token latency vs request rate, p50 (solid) and p99 (dashed)",
                             _meta(t, summary), panels=2, sample="rounds")
  for g, d in t.groupby("group"):
    for ax, m in ((ttft, "ttft_ms"), (itl, "itl_ms")):
      (line,) = ax.plot(d["request_rate"], d[f"{m}_p50"], "o-", label=_series(g, "p50"))
      if d[f"{m}_p99"].notna().any(): ax.plot(d["request_rate"], d[f"{m}_p99"], "s--", color=line.get_color(), label=_series(g, "p99"))
  for ax, name in ((ttft, "time to first token, ms"), (itl, "inter-token gap, ms")):
    _log_y(ax); ax.set_xlabel("request rate, requests/s (open loop; p99 from 100 requests)"); ax.set_ylabel(f"{name} (log scale)")
  return _save(fig, path)

def plot_timeout_scaling(t: pd.DataFrame, summary: pd.DataFrame, path: Path) -> Path:
  fig, (tput, ttft) = _figure("A batching server's batch timeout: throughput and time to first token (whiskers: 95% CI over rounds)",
                              _meta(t, summary), panels=2, sample="rounds")
  for g, d in t.groupby("group"):
    (line,) = tput.plot(d["batch_timeout_ms"], d["aggregate_tok_s_median"], "o-", label=_series(g, "median"))
    _whiskers(tput, d["batch_timeout_ms"], d["aggregate_tok_s_ci95_low"], d["aggregate_tok_s_ci95_high"], line.get_color())
    ttft.plot(d["batch_timeout_ms"], d["ttft_ms_p50"], "o-", color=line.get_color(), label=_series(g, "p50"))
  for ax in (tput, ttft): ax.set_xlabel("batch timeout, ms (an idle server waits this long to fill a batch)")
  tput.set_ylabel("aggregate tok/s"); ttft.set_ylabel("time to first token p50, ms")
  return _save(fig, path)

def plot_memory(summary: pd.DataFrame, path: Path) -> Path | None:
  """Peak RSS (and device memory, where measured) against the KV cache's positions, context x batch, per batch size;
  the prediction dashed."""
  d = _numbers(summary[(summary["phase"] == "decode") & summary["peak_rss_bytes"].notna()])
  if d.empty or (d["ctx"] * d["batch"]).nunique() < 2: return None
  d["positions"] = d["ctx"] * d["batch"]
  fig, ax = _figure("Peak memory vs KV cache positions (context x batch): measured (solid), predicted (dashed)", d)
  for b, g in d.sort_values("positions").groupby("batch"):
    (line,) = ax.plot(g["positions"], g["peak_rss_bytes"] / MiB, "o-", label=f"batch {b}: peak RSS")
    if g["peak_device_bytes"].notna().any(): ax.plot(g["positions"], g["peak_device_bytes"] / MiB, "^-", color=line.get_color(), label=f"batch {b}: peak device")
    ax.plot(g["positions"], g["predicted_bytes"] / MiB, "s--", color=line.get_color(), alpha=0.6, label=f"batch {b}: predicted")
  ax.set_xscale("log", base=2)
  ax.set_xlabel("KV cache positions (ctx x batch)"); ax.set_ylabel("MiB")
  return _save(fig, path)

TABLES = {"token_scaling": (token_scaling, plot_token_scaling), "temperature_effect": (temperature_effect, plot_temperature_effect),
          "context_scaling": (context_scaling, plot_context_scaling), "batch_scaling": (batch_scaling, plot_batch_scaling),
          "concurrency_scaling": (concurrency_scaling, plot_concurrency_scaling), "rate_scaling": (rate_scaling, plot_rate_scaling),
          "timeout_scaling": (timeout_scaling, plot_timeout_scaling)}

PLOTS = (*TABLES, "memory_scaling")

def write_tables(summary: pd.DataFrame, table_dir: Path) -> list[Path]:
  """Every table whose data exists, as CSV in table_dir (benchmark_analysis.py); a table without data is removed, so
  none is left over from other data."""
  from inferbench.store.collate import write_csv
  out = []
  for name, (make, _) in TABLES.items():
    path = table_dir / f"{name}.csv"
    if (t := make(summary)) is None: files.discard(path); continue
    write_csv(path, list(t.columns), t)
    out.append(path)
  return out

def draw_plots(summary: pd.DataFrame, table_dir: Path, plot_dir: Path) -> list[Path]:
  """The plot of every table benchmark_analysis.py wrote, and the memory plot (generate_additional_plots.py); the
  others' old PNGs are removed."""
  plot_dir.mkdir(parents=True, exist_ok=True)
  out = []
  for name, (_, draw) in TABLES.items():
    if (table_dir / f"{name}.csv").is_file(): out.append(draw(pd.read_csv(table_dir / f"{name}.csv"), summary, plot_dir / f"{name}.png"))
    else: (plot_dir / f"{name}.png").unlink(missing_ok=True)
  if mem := plot_memory(summary, plot_dir / "memory_scaling.png"): out.append(mem)
  else: (plot_dir / "memory_scaling.png").unlink(missing_ok=True)
  return out
