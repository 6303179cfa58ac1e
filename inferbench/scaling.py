"""Scaling tables and plots from summary.csv (one row per configuration and phase; columns in notes/CONTRACT.md):
how latency and throughput move with one workload axis while the rest of the configuration stays the same.

  token_scaling.csv       by output length (n_decode_steps): decode tok/s, step latency, TTFT, request latency
  temperature_effect.csv  by temperature, against the lowest: the change and whether the 95% CIs overlap
  context_scaling.csv     by context depth (n_prompt_tokens: the prompt fills that many positions before decoding)
  batch_scaling.csv       by batch: aggregate and per-sequence decode tok/s, speedup over batch 1, peak memory

Each table keeps one row per configuration (as the summary keys them) that has at least one sibling differing only
in that axis; `group` names what else varies between the rows. A table without such rows is not written.
"""
from __future__ import annotations
from pathlib import Path
import pandas as pd

KEYS = ["backend", "backend_version", "device", "device_name", "hostname", "size", "weights", "model_sha256", "quantize",
        "model_type", "bits_per_weight", "threads", "ctx", "n_prompt_tokens", "n_decode_steps", "temperature", "concurrency",
        "batch", "request_rate", "knobs", "mode"]
MiB = 2**20

AXES = ("ctx", "batch", "n_prompt_tokens", "n_decode_steps", "temperature", "threads")

def _numbers(df: pd.DataFrame) -> pd.DataFrame:
  """The summary spells its settings as text ("2048"); the axes are numbers here, so they sort and scale as numbers."""
  return df.assign(**{a: pd.to_numeric(df[a], errors="coerce") for a in AXES if a in df.columns})

def _with_groups(df: pd.DataFrame, axis: str) -> pd.DataFrame:
  """Decode rows with a `group` label: the configuration less the axis. Only groups with >= 2 values of the axis."""
  d = _numbers(df[df["phase"] == "decode"])
  keys = [k for k in KEYS if k in d.columns and k != axis]
  d[keys] = d[keys].fillna("")
  varying = [k for k in keys if d[k].nunique() > 1]
  d["group"] = d[varying].astype(str).agg(lambda r: " ".join(f"{k}={v}" for k, v in zip(varying, r)), axis=1) if varying else "all"
  d = d[d.groupby(keys)[axis].transform("nunique") > 1]
  return d.sort_values(["group", axis]).reset_index(drop=True)

def _ttft(df: pd.DataFrame) -> pd.Series:
  """Each decode row's configuration's median time to first token, from its prefill row."""
  keys = [k for k in KEYS if k in df.columns]
  pre = _numbers(df[df["phase"] == "prefill"])[keys + ["ttft_ms_median"]].fillna({k: "" for k in keys})
  return pre.set_index(keys)["ttft_ms_median"]

RATE = ["tok_s_median", "tok_s_ci95_low", "tok_s_ci95_high", "n_runs"]

def token_scaling(df: pd.DataFrame) -> pd.DataFrame | None:
  d = _with_groups(df, "n_decode_steps")
  if d.empty: return None
  keys = [k for k in KEYS if k in d.columns]
  ttft = _ttft(df)
  d["ttft_ms_median"] = [ttft.get(tuple(r), float("nan")) for r in d[keys].itertuples(index=False)]
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

# --- plots ---

def _figure(title: str, df: pd.DataFrame):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(8, 4.8))
  r = df.iloc[0]
  runs = f"{int(df['n_runs'].min())}" + (f"-{int(df['n_runs'].max())}" if df["n_runs"].nunique() > 1 else "")
  ax.set_title(f"{title}\n{r.get('model_name') or r['size']} {r['quantize']}, {r['backend']} on {r['device_name']} ({r['hostname']}); "
               f"median of {runs} runs per point", fontsize=9)
  ax.grid(True, alpha=0.3)
  return fig, ax

def _save(fig, path: Path) -> Path:
  import matplotlib.pyplot as plt
  fig.axes[0].legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=130)
  plt.close(fig)
  return path

def _meta(table: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
  """The summary's descriptive columns for a table's titles (model, device, host)."""
  cols = [c for c in ("model_name", "size", "quantize", "backend", "device_name", "hostname") if c in summary.columns]
  return pd.concat([table.reset_index(drop=True), summary[summary["phase"] == "decode"][cols].head(1).reset_index(drop=True)], axis=1).ffill()

def plot_token_scaling(t: pd.DataFrame, summary: pd.DataFrame, path: Path) -> Path:
  fig, ax = _figure("Request latency vs generated tokens (TTFT + n steps at the median decode rate)", _meta(t, summary))
  for g, d in t.groupby("group"): ax.plot(d["n_decode_steps"], d["request_latency_ms"], "o-", label=g)
  ax.set_xlabel("generated tokens (decode steps)"); ax.set_ylabel("latency, ms")
  return _save(fig, path)

def plot_temperature_effect(t: pd.DataFrame, summary: pd.DataFrame, path: Path) -> Path:
  fig, ax = _figure("Decode tok/s by temperature: median, whiskers 95% CI over runs (overlap: no measurable effect)", _meta(t, summary))
  for g, d in t.groupby("group"):
    err = [(d["tok_s_median"] - d["tok_s_ci95_low"]).fillna(0), (d["tok_s_ci95_high"] - d["tok_s_median"]).fillna(0)]
    ax.errorbar(d["temperature"], d["tok_s_median"], yerr=err, fmt="o-", capsize=4, label=g)
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
          "context_scaling": (context_scaling, plot_context_scaling), "batch_scaling": (batch_scaling, plot_batch_scaling)}

PLOTS = (*TABLES, "memory_scaling")

def write_tables(summary: pd.DataFrame, table_dir: Path) -> list[Path]:
  """Every table whose data exists, as CSV in table_dir (benchmark_analysis.py); a table without data is removed, so
  none is left over from other data."""
  from .collate import write_csv
  out = []
  for name, (make, _) in TABLES.items():
    path = table_dir / f"{name}.csv"
    if (t := make(summary)) is None: path.unlink(missing_ok=True); continue
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
