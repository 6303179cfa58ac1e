"""Collated CSVs -> runs.csv (one row per measured run) -> summary.csv (one row per configuration and phase) and
ratios.csv (speedups between backends and quantizations). These three files are what every table, plot and slide
reads; no module outside analyse/ computes a statistic (compare.py sets two folders of them against each other).

The sample is the run. Steps inside one run share the process, the caches and the machine's drift, so they are not
independent: a step-level interval would be several times too narrow. Per run:
  decode tok/s   = decode tokens / the sum of their step times (tokens over time, never a mean of per-step rates)
  prefill tok/s  = prompt tokens / prefill time;  TTFT = the prefill step's time
A configuration's headline is the median over its runs, with a Student t 95% interval over runs (3 runs or more).
Where its logs asked for a --target-ci, the decode row is `imprecise` (and flagged) when that interval over all its
runs misses the tightest target asked (stats.target_met, the worker's stopping rule).
Per-step latency percentiles (p50 over all steps; p90 from 10 steps, p99 from 100) describe the distribution only.

A configuration is every setting that can change speed (KEY); runs are pooled, seeds too, only when all are equal.
Groups whose runs come from different commits or package versions are flagged, never silently merged.
"""
from __future__ import annotations
import argparse, csv, hashlib, json, sys
from dataclasses import dataclass
from pathlib import Path
import numpy as np
import pandas as pd
import pyarrow as pa, pyarrow.csv as pcsv
from inferbench import backends
from inferbench.core import cli, files, roofline, stats
from inferbench.analyse import scaling
from inferbench.core.formats import knob, varying_knobs
from inferbench.store.collate import CSV_NAMES, ENERGY_RUN, SEED_COLUMNS, declared, write_csv
from inferbench.core.config import IDENTITY, LATER
from inferbench.core.names import fmt, interval, name

PHASES = ("decode", "prefill")
EXPECTED = tuple(b for b in backends.BACKENDS if b != "endpoint")  # one without data is stated, not an error
OUTPUTS = ("summary.csv", "runs.csv", "ratios.csv", "compare.csv", *(f"{t}.csv" for t in scaling.TABLES))
MISMATCH = 0.05  # harness time more than 5% off the backend's own timer is flagged

KEY = IDENTITY  # every setting that can change speed (core/config.py): configurations are never pooled across them
# dropped first from a label when the others already tell its configurations apart
LABEL_DROP_ORDER = ("model_sha256", "model_type", "device_name", "backend_version", "mode", "hostname")
# Logs written before the worker logged `knobs` kept them among the backend's dotted header keys.
LEGACY_KNOBS = {"llamacpp.flash_attn": ("flash_attn", {"0": "off", "1": "on"}), "tinygrad.beam": ("beam", {}), "tinygrad.jit": ("jit", {})}

# The collated CSV columns the analysis reads, typed once. Missing columns read as blank.
TEXT = ["backend", "backend_version", "mode", "device", "device_name", "hostname", "size", "weights", "model_sha256", "quantize",
        "model_type", "knobs", "settings", "versions", "git_commit", "started_at", "log_file", "uuid", "phase", "status", "seed",
        "model_name", "platform", "release", "cpu_model", "python", "memory_bytes_source", "bits_per_weight", "n_params", "model_bytes",
        "stopped_by", "energy_gpu", "energy_cpu", "tree_sha256", "workload", "gpu_index"]
NUMBERS = ["run", "step", "n_step_tokens", "total_latency_ms", "bytes_read", "min_bytes_read", "threads", "ctx", "n_prompt_tokens",
           "n_decode_steps", "temperature", "batch", "concurrency", "request_rate", "roofline_gb_s", "compute_gflop_s", "internal_run_decode_ms",
           "aggregate_tokens_per_sec", "peak_rss_bytes", "peak_device_bytes", "predicted_bytes", "prompts_per_sec", "goodput_rps",
           "requests_failed", "e2e_latency_ms", "server_queue_ms", "recompiles", "target_ci_pct", *ENERGY_RUN, "client_cpu_share", "send_lag_ms_p99", "cache_hit_requests",
           "other_cpu_share"]
REQUIRED = ("backend", "phase", "status", "total_latency_ms", "n_step_tokens", "size", "quantize", "device", "hostname", "seed", "uuid", "run")
DESCRIBE_TEXT = ["model_name", "bits_per_weight", "n_params", "model_bytes", "platform", "release", "cpu_model", "python",
                 "memory_bytes_source"]
DESCRIBE = [*DESCRIBE_TEXT, "roofline_gb_s", "compute_gflop_s", "predicted_bytes"]

class AnalysisError(Exception):
  """Data that cannot be analysed. The message names the file (and row) and the way out."""

@dataclass(frozen=True)
class Data:
  steps: pd.DataFrame  # one row per status-ok step: log (a row of logs), run, phase, the step's numbers, config, lat_ms
  logs: pd.DataFrame   # one row per log: its configuration (KEY), config id and what describes it
  files: list[Path]    # the collated CSVs (or raw logs) read
  skipped: list[str]   # CSVs in the folder that are not collated benchmark CSVs, and why
  missing: list[str]   # expected backends without ok rows

def backend_of(path: Path) -> str: return {v: k for k, v in CSV_NAMES.items()}.get(path.name, path.stem)
def recollate(path: Path) -> str:
  script = f"{b}_collate.py" if (b := backend_of(path)) in backends.STEP else "mlc_collate.py"  # every server's CSV: collate serving
  return "re-run that configuration" if path.suffix == ".txt" else f"re-collate it with `python {script} -d {path.parent}`"
def _row(df: pd.DataFrame, i: int) -> str:
  """Where row i (0-based) of a collated CSV came from: its place among the rows (a row can span lines) and its log."""
  at = "".join(f", {k} {v:g}" for k in ("run", "step") if isinstance(v := df[k].iloc[i], float) and v == v)
  return f"row {i + 1} ({df['log_file'].iloc[i] or 'no log_file'}{at})"

def is_benchmark_csv(path: Path) -> bool:
  """A backend's CSV by name, or any CSV with the seed's columns first (another server's)."""
  if path.name in OUTPUTS or path.name.startswith("sweep_"): return False
  if path.stem in EXPECTED or path.name in CSV_NAMES.values(): return True
  try: header = pd.read_csv(path, nrows=0).columns.tolist()
  except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, OSError): return False
  return header[:len(SEED_COLUMNS)] == SEED_COLUMNS

def read_csv(path: Path) -> pd.DataFrame:
  """One collated CSV's rows, its text columns as categories, its numbers as floats (pyarrow: a million rows in seconds)."""
  try:
    with open(path, newline="", encoding="utf-8") as f: header = next(csv.reader(f), [])
    if missing := [c for c in REQUIRED if c not in header]:
      raise AnalysisError(f"{path}: not a collated benchmark CSV (no column {', '.join(missing)}): {recollate(path)}, or move it out of {path.parent}/")
    text = pa.dictionary(pa.int32(), pa.string())
    table = pcsv.read_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 24), parse_options=pcsv.ParseOptions(newlines_in_values=True),
                          convert_options=pcsv.ConvertOptions(include_columns=[c for c in header if c in TEXT or c in NUMBERS],
                                                              column_types={**{c: text for c in TEXT}, **{c: pa.float64() for c in NUMBERS}},
                                                              strings_can_be_null=False, quoted_strings_can_be_null=False))
  except (pa.ArrowInvalid, OSError, UnicodeDecodeError, csv.Error) as e:
    raise AnalysisError(f"{path}: unreadable as CSV ({str(e).splitlines()[0]}): {recollate(path)}")
  return table.to_pandas()

def typed(df: pd.DataFrame, path: Path) -> pd.DataFrame:
  """The status-ok prefill and decode steps of a collated CSV's rows (or of collate's rows of fresh logs), with every
  column the analysis reads. Raises AnalysisError naming the file, row, log, run and step for a value the raw log's
  parser would not accept (a latency of 0 is one it accepts: two tokens of one streamed chunk)."""
  for c in TEXT:
    if c not in df.columns: df[c] = ""
  for c in NUMBERS:
    if c not in df.columns: df[c] = np.nan
    elif not pd.api.types.is_numeric_dtype(df[c]):  # collate's rows of fresh logs: numbers, None and ""
      raw = df[c]
      df[c] = pd.to_numeric(raw.replace("", None), errors="coerce")
      if (bad := (raw.notna() & (raw != "") & df[c].isna()).to_numpy()).any():
        raise AnalysisError(f"{path}: row {np.argmax(bad) + 1}: {c} is {raw.iloc[np.argmax(bad)]!r}, not a number: {recollate(path)}")
  if (bad := (df["status"] == "") | (df["uuid"] == "")).to_numpy().any():  # every collated row has both: a short row is damage
    raise AnalysisError(f"{path}: row {np.argmax(bad.to_numpy()) + 1}: an incomplete row (no status or uuid): the file is damaged; {recollate(path)}")
  ok = ((df["status"] == "ok") & df["phase"].isin(PHASES)).to_numpy()
  for c in NUMBERS:  # the raw log's rule for the field a column carries (collate.declared), so what parses analyses; derived: >= 0
    x, f = df[c].to_numpy(), declared(c)
    lo = -np.inf if f and f.lo is None else f.lo if f else 0
    bad = ok & (np.isinf(x) | (x < lo) | (np.isnan(x) & bool(f and not f.null)))
    if bad.any():
      i = int(np.argmax(bad))
      why = "not finite" if np.isinf(x[i]) else "missing" if np.isnan(x[i]) else f"below its least value {lo:g}"
      raise AnalysisError(f"{path}: {_row(df, i)}: {c} is {x[i]:g}, {why}, which no valid log holds: {recollate(path)}")
  df = df[ok]
  df.insert(0, "source_csv", path.name)
  return df

def knobs_of(logs: pd.DataFrame) -> pd.Series:
  """The backend settings a user chooses, one way spelled ("flash_attn=on beam=2"), from the `knobs` header or, for
  older logs, from the dotted settings they kept."""
  def legacy(settings: str) -> str:
    s = json.loads(settings or "{}")
    return " ".join(f"{name}={spell.get(str(s[k]), s[k])}" for k, (name, spell) in sorted(LEGACY_KNOBS.items()) if k in s)
  return logs["knobs"].where(logs["knobs"] != "", logs["settings"].map(legacy))

def config_ids(logs: pd.DataFrame) -> pd.Series:
  """A short, stable id of each log's configuration (all of KEY; a LATER column only where it is set, so that logs
  written before it existed keep their ids)."""
  key = logs[[k for k in KEY if k not in LATER]].astype(str).agg("\x1f".join, axis=1)
  for c in LATER: key = key + logs[c].astype(str).map(lambda v: f"\x1f{c}={v}" if v not in ("", "nan") else "")
  return key.map(lambda k: hashlib.sha1(k.encode()).hexdigest()[:10])

RUN_NUMBERS = ["internal_run_decode_ms", "peak_rss_bytes", "peak_device_bytes", "e2e_latency_ms", "server_queue_ms", "recompiles",
               *ENERGY_RUN, "other_cpu_share"]  # a run's line
STEP_NUMBERS = ["run", "step", "n_step_tokens", "total_latency_ms", "bytes_read", "min_bytes_read", *RUN_NUMBERS]  # may differ from step to step, or run to run
# a serving log's figures: one value per log (a round of a load level), so a round is their sample
LOAD = {"aggregate_tokens_per_sec": "aggregate_tok_s", "prompts_per_sec": "prompts_per_s", "goodput_rps": "goodput_rps",
        "client_cpu_share": "client_cpu_share",  # the cores the load client itself used: above stats.CLIENT_BOUND_SHARE, client-bound
        "send_lag_ms_p99": "send_lag_ms_p99"}  # open loop: how late its requests left their schedule; above stats.CLIENT_LAG_MS, client-bound

def prepare(frames: list[pd.DataFrame], files: list[Path], skipped: list[str] = ()) -> Data:
  """Typed rows of several files -> one row per log (its configuration, worked out once) and the steps that point to it."""
  logs, steps = [], []
  for df in frames:
    if df.empty: continue
    codes = df["log_file"].astype("category").cat.codes.to_numpy()
    first = np.unique(codes, return_index=True)[1]  # a log's header columns are the same on all its rows
    log = df.iloc[first][[c for c in ["source_csv", *TEXT, *NUMBERS] if c not in STEP_NUMBERS and c not in ("phase", "status")]]
    position = np.empty(codes.max() + 1, dtype=np.int64)
    position[codes[first]] = np.arange(len(first)) + sum(map(len, logs))
    step = df[["phase", *STEP_NUMBERS]].copy()
    step["log"] = position[codes]
    logs.append(log.astype({c: str for c in ["source_csv", *TEXT] if c in log.columns}).reset_index(drop=True))
    steps.append(step)
  if not logs:
    empty = pd.DataFrame({c: pd.Series(dtype=str) for c in [*KEY, "config", "source_csv", "backend"]})
    return Data(pd.DataFrame(columns=["log", "phase", *STEP_NUMBERS, "config", "lat_ms"]), empty, files, list(skipped), list(EXPECTED))
  logs = pd.concat(logs, ignore_index=True)
  steps = pd.concat(steps, ignore_index=True)
  steps["phase"] = steps["phase"].astype(pd.CategoricalDtype(PHASES))
  logs["knobs"] = knobs_of(logs)
  # older logs did not record their decode steps: a run's last step number is it
  last = steps.loc[(steps["phase"] == "decode").to_numpy(), ["log", "step"]].groupby("log")["step"].max()
  logs["n_decode_steps"] = logs["n_decode_steps"].fillna(pd.Series(logs.index.map(last), index=logs.index))
  for c in ("threads", "ctx", "n_prompt_tokens", "n_decode_steps", "batch", "concurrency", "request_rate", "temperature"):
    logs[c] = logs[c].map(lambda v: "" if pd.isna(v) else f"{v:g}")  # 2 threads is "2" wherever it came from
  logs["batch"] = logs["batch"].replace("", "1")
  logs["weights"] = logs["weights"].replace("", "real")
  logs["config"] = config_ids(logs)
  log = steps["log"].to_numpy()
  configs = pd.Categorical(logs["config"])
  steps["config"] = pd.Categorical.from_codes(configs.codes[log], configs.categories)
  # per-token latency of one sequence: decode steps give each sequence of the batch one token
  steps["lat_ms"] = steps["total_latency_ms"] / (steps["n_step_tokens"] / logs["batch"].astype(float).to_numpy()[log])
  return Data(steps, logs, files, list(skipped), [b for b in EXPECTED if b not in set(logs["backend"])])

def load(folder: Path = Path("benchmark_output")) -> Data:
  folder = Path(folder)
  if not folder.is_dir(): raise AnalysisError(f"no folder {folder}: run a benchmark and its collate script first, or pass -d DIR")
  files, skipped, frames = [], [], []
  for path in sorted(folder.glob("*.csv")):
    if path.name in OUTPUTS or path.name.startswith("sweep_"): continue  # this module's output, the sweep's own table
    if not is_benchmark_csv(path):
      skipped.append(f"{path.name}: not a collated benchmark CSV")
      continue
    files.append(path)
    frames.append(typed(read_csv(path), path))
  return prepare(frames, files, skipped)

def from_logs(paths: list[Path]) -> Data:
  """The raw logs just written, through collate's rows: how a benchmark command summarizes what it ran."""
  from inferbench.store.collate import rows
  from inferbench.store.rawlog import LogError, parse
  frames = []
  for path in paths:
    try: log = parse(path)
    except LogError: continue  # its status line says why; the runner reports it
    if log.ok:
      df = pd.DataFrame(rows(log))
      frames.append(typed(df.fillna({c: "" for c in TEXT if c in df.columns}).astype({c: str for c in TEXT if c in df.columns}), path))
  return prepare(frames, list(paths))

# ---------------------------------------------------------------- runs

def run_table(data: Data) -> pd.DataFrame:
  """One row per measured run: its configuration, and its rates as tokens over time."""
  s = data.steps.assign(bytes=data.steps["bytes_read"].fillna(data.steps["min_bytes_read"]))
  g = s.groupby(["log", "run", "phase"], sort=False, observed=True)
  per = g.agg(ms=("total_latency_ms", "sum"), tokens=("n_step_tokens", "sum"), n=("step", "size"), ms_median=("total_latency_ms", "median"),
              bytes=("bytes", "sum"), min_bytes=("min_bytes_read", "sum")).unstack("phase")
  per.columns = [f"{p}_{m}" for m, p in per.columns]
  for c in (f"{p}_{m}" for p in PHASES for m in ("ms", "tokens", "n", "ms_median", "bytes", "min_bytes")):
    if c not in per.columns: per[c] = np.nan
  per = per.join(s.groupby(["log", "run"], sort=False)[RUN_NUMBERS].first()).reset_index()
  logs = data.logs.iloc[per["log"].to_numpy()].reset_index(drop=True)
  batch, model_bytes = logs["batch"].astype(float), pd.to_numeric(logs["model_bytes"].str.split(";").str[0], errors="coerce")
  out = logs[["source_csv", "log_file", "uuid", *KEY, "config", "seed", "git_commit", "tree_sha256", "versions", "started_at", *DESCRIBE,
              "target_ci_pct", "stopped_by"]].copy()
  out.insert(3, "run", per["run"].astype(int))
  for p in PHASES:
    ms = per[f"{p}_ms"]
    timed = ms.where(ms > 0)  # a phase that took no measurable time (a stream's tokens all in one chunk) has no rate
    out[f"{p}_tok_s"] = 1e3 * per[f"{p}_tokens"] / timed
    out[f"{p}_steps"] = per[f"{p}_n"]
    out[f"{p}_ms"] = ms
    out[f"{p}_mem_gb_s"] = per[f"{p}_bytes"] / timed / 1e6
    out[f"{p}_param_gb_s"] = model_bytes * per[f"{p}_n"] / timed / 1e6
  out["decode_tok_s_per_seq"] = out["decode_tok_s"] / batch
  out["ttft_ms"] = per["prefill_ms"]
  out["decode_ms_median"] = per["decode_ms_median"]
  out["pct_of_roofline"] = 100 * roofline.fraction(per["decode_min_bytes"], per["decode_ms"].where(per["decode_ms"] > 0) / 1e3, logs["roofline_gb_s"])
  out["internal_decode_ms"] = per["internal_run_decode_ms"]
  for c in ("peak_rss_bytes", "peak_device_bytes", "e2e_latency_ms", "server_queue_ms", "recompiles", "other_cpu_share"): out[c] = per[c]
  out = out.join(energy_columns(per))
  for c, name in LOAD.items(): out[name] = logs[c].to_numpy()
  out["cache_hit_requests"] = logs["cache_hit_requests"].to_numpy()  # per log: requests a prompt cache served that the workload did not ask it to
  out["label"] = label(out)
  return out.sort_values(["config", "started_at", "uuid", "run"], kind="stable").reset_index(drop=True)

def energy_columns(per: pd.DataFrame) -> pd.DataFrame:
  """A run's decode energy: the joules of every counter it read (GPU and CPU package, measure/energy.py) summed, per
  decode token and as mean watts over the decode window; NaN where no counter was read (never 0). `energy_measured`
  says which counters the sum holds."""
  gpu, cpu = per["gpu_decode_energy_j"], per["cpu_decode_energy_j"]
  joules = gpu.fillna(0) + cpu.fillna(0)
  joules = joules.where(gpu.notna() | cpu.notna())
  measured = np.where(gpu.notna() & cpu.notna(), "gpu+cpu", np.where(gpu.notna(), "gpu", np.where(cpu.notna(), "cpu", "")))
  return pd.DataFrame({"decode_energy_j": joules, "decode_energy_s": per["decode_energy_s"], "gpu_decode_energy_j": gpu,
                       "cpu_decode_energy_j": cpu, "j_per_token": joules / per["decode_tokens"],
                       "watts": joules / per["decode_energy_s"], "energy_measured": measured}, index=per.index)

ENERGY_SUMMARY = ("j_per_token", "j_per_token_ci95_low", "j_per_token_ci95_high", "watts_mean", "gpu_j_per_token", "cpu_j_per_token")

def _energy_row(runs: pd.DataFrame) -> dict:
  """A configuration's decode energy over its runs that read a counter: joules per token pooled (all their joules over
  all their tokens: a counter's coarse steps average out), a t-interval over the runs' own J/token, mean watts pooled
  likewise, the GPU's and CPU's shares; `not measured` where no run read one."""
  e = runs[runs["j_per_token"].notna()] if "j_per_token" in runs else runs.iloc[:0]
  if e.empty: return {"energy_measured": "not measured", "energy_runs": 0, **dict.fromkeys(ENERGY_SUMMARY, np.nan)}
  tokens = e["decode_energy_j"] / e["j_per_token"]
  lo, hi = stats.t_interval(e["j_per_token"].to_numpy())
  share = lambda c: e[c].sum() / tokens.sum() if e[c].notna().all() else np.nan
  return {"energy_measured": _join(e["energy_measured"]), "energy_runs": len(e), "j_per_token": e["decode_energy_j"].sum() / tokens.sum(),
          "j_per_token_ci95_low": max(lo, 0.0) if lo == lo else lo, "j_per_token_ci95_high": hi,
          "watts_mean": e["decode_energy_j"].sum() / e["decode_energy_s"].sum(),
          "gpu_j_per_token": share("gpu_decode_energy_j"), "cpu_j_per_token": share("cpu_decode_energy_j")}

# ---------------------------------------------------------------- summary

def _join(values) -> str: return "; ".join(sorted({str(v) for v in values if str(v) not in ("", "nan")}))

def _phase_row(runs: pd.DataFrame, phase: str, lat: pd.Series) -> dict:
  tok = runs[f"{phase}_tok_s"].to_numpy()
  lo, hi = stats.t_interval(tok)
  lo = max(lo, 0.0) if lo == lo else lo  # a rate is never negative: a wide interval stops at 0
  slow = any(stats.first_run_slow(g[f"{phase}_tok_s"].iloc[0], g[f"{phase}_tok_s"].iloc[1:])
             for _, g in runs.groupby("uuid", sort=False) if len(g) > 2)
  row = {"phase": phase, "n_logs": runs["uuid"].nunique(), "n_runs": len(runs), "n_steps": int(runs[f"{phase}_steps"].sum()),
         "tok_s_median": float(np.median(tok)), "tok_s_mean": float(tok.mean()), "tok_s_ci95_low": lo, "tok_s_ci95_high": hi,
         "cv": stats.cv(tok), "latency_ms_p50": stats.percentile(lat, 50), "latency_ms_p90": stats.percentile(lat, 90),
         "latency_ms_p99": stats.percentile(lat, 99), "mem_gb_s_median": runs[f"{phase}_mem_gb_s"].median(),
         "param_gb_s_median": runs[f"{phase}_param_gb_s"].median(), "outliers": stats.mad_outliers(tok), "drift": stats.drift(tok),
         "first_run_slow": slow, "recompiled_runs": int((runs["recompiles"] > 0).sum()) if "recompiles" in runs else 0,
         "other_cpu_share_mean": runs["other_cpu_share"].mean() if "other_cpu_share" in runs else np.nan}
  if phase == "decode":
    row |= {"tok_s_per_seq_median": runs["decode_tok_s_per_seq"].median(), "pct_of_roofline": runs["pct_of_roofline"].median(), **_energy_row(runs)}
    ratio, rlo, rhi = stats.bootstrap_ratio(runs["decode_ms"], runs["internal_decode_ms"], paired=True)
    row |= {"harness_internal_ratio": ratio, "harness_internal_ci95_low": rlo, "harness_internal_ci95_high": rhi}
    rounds = runs.drop_duplicates("uuid")  # serving: each load figure once per log, a round
    for name in LOAD.values():
      x = rounds[name].dropna().to_numpy() if name in rounds else np.array([])
      lo, hi = stats.t_interval(x)
      row |= {f"{name}_median": float(np.median(x)) if x.size else np.nan, f"{name}_ci95_low": max(lo, 0.0) if lo == lo else lo, f"{name}_ci95_high": hi}
    row |= {f"{c}_p{q}": stats.percentile(runs[c], q) if c in runs else np.nan for c in ("e2e_latency_ms", "server_queue_ms") for q in (50, 99)}
    hits = rounds["cache_hit_requests"].dropna() if "cache_hit_requests" in rounds else pd.Series(dtype=float)
    row["cache_hit_requests"] = float(hits.sum()) if len(hits) else np.nan
  else: row |= {"ttft_ms_median": runs["ttft_ms"].median(), **{f"ttft_ms_p{q}": stats.percentile(runs["ttft_ms"], q) for q in (50, 90, 99)}}
  return row

def _precision(runs: pd.DataFrame, phase: str) -> dict:
  """The decode rate's interval over all the configuration's runs (pooled logs too) against the tightest --target-ci its
  logs asked, by the rule the worker stopped by (stats.target_met): imprecise where it misses it."""
  target = runs["target_ci_pct"].min() if phase == "decode" and "target_ci_pct" in runs else np.nan
  return {"tok_s_ci_pct": stats.ci_pct(runs[f"{phase}_tok_s"]), "target_ci_pct": target,
          "imprecise": bool(target == target and not stats.target_met(runs[f"{phase}_tok_s"], target))}

def _flags(r: dict) -> str:
  miss = f"+-{r['tok_s_ci_pct']:.1f}%" if r["tok_s_ci_pct"] == r["tok_s_ci_pct"] else f"no CI ({r['n_runs']} run(s))"
  return "; ".join(f for f in (
    f"imprecise: {miss} > target +-{r['target_ci_pct']:g}%" if r["imprecise"] else "",
    f"noisy (cv {r['cv']:.0%})" if r["noisy"] else "", "drift (first and second half of the runs disagree)" if r["drift"] else "",
    f"{r['outliers']} outlier run(s)" if r["outliers"] else "", "first run slow" if r["first_run_slow"] else "",
    f"cache hits: {r['cache_hit_requests']:.0f} request(s) served from a prompt cache beyond the prefix the workload shares"
    if r.get("cache_hit_requests", 0) > 0 else "",
    f"client-bound (the client used {r['client_cpu_share_median']:.2f} of a core)" if r.get("client_cpu_share_median", 0) > stats.CLIENT_BOUND_SHARE else "",
    f"client-bound (requests left {r['send_lag_ms_p99_median']:.1f} ms behind their schedule, p99)" if r.get("send_lag_ms_p99_median", 0) > stats.CLIENT_LAG_MS else "",
    f"recompiled in {r['recompiled_runs']} run(s)" if r["recompiled_runs"] else "",
    f"contended (other work kept {r['other_cpu_share_mean']:.0%} of its CPUs busy, mean over runs)" if stats.contended(r.get("other_cpu_share_mean")) else "",
    f"no CI: {r['n_runs']} run(s)" if r["n_runs"] < stats.MIN_RUNS_CI else "",
    f"mixed: {r['mixed']}" if r["mixed"] else "",
    # a fraction of the roofline above 1: the bytes did not come from memory at the measured rate (caches), or it measured low
    f"{r['pct_of_roofline']:.0f}% of the roofline: faster than the measured bandwidth allows" if r.get("pct_of_roofline", 0) > 100 else "",
    f"harness/internal {r['harness_internal_ratio']:.3f}" if abs(r.get("harness_internal_ratio", 1) - 1) > MISMATCH else "") if f)

def summary_table(runs: pd.DataFrame, data: Data) -> pd.DataFrame:
  """One row per configuration and phase, from its runs (rates) and its steps (latency percentiles)."""
  lat = {k: g.to_numpy() for k, g in data.steps.groupby(["config", "phase"], sort=False, observed=True)["lat_ms"]}
  out = []
  for config, g in runs.groupby("config", sort=False):
    g = g.sort_values(["started_at", "uuid", "run"], kind="stable")
    r0 = g.iloc[0]
    commits, versions = g["git_commit"].unique(), g["versions"].unique()
    mixed = "; ".join(m for m in (f"{len(commits)} commits" if len(commits) > 1 else "",
                                  f"{len(versions)} package version sets" if len(versions) > 1 else "") if m)
    common = {**{k: r0[k] for k in (*KEY, "config", "label")}, "seeds": _join(g["seed"]), "mixed": mixed,
              **{k: _join(g[k]) for k in DESCRIBE_TEXT},
              "roofline_gb_s": g["roofline_gb_s"].median(), "compute_gflop_s": g["compute_gflop_s"].median(), "predicted_bytes": g["predicted_bytes"].max(),
              "peak_rss_bytes": g["peak_rss_bytes"].max(), "peak_device_bytes": g["peak_device_bytes"].max(),
              "git_commit": _join(g["git_commit"]), "tree_sha256": _join(g.get("tree_sha256", [])), "versions": _join(g["versions"]), "source_csv": _join(g["source_csv"]),
              "first_started_at": g["started_at"].min(), "last_started_at": g["started_at"].max()}
    for phase in PHASES:
      ok = g[g[f"{phase}_tok_s"].notna()]
      if ok.empty: continue
      row = common | _phase_row(ok, phase, lat.get((config, phase), np.array([]))) | _precision(ok, phase)
      row["noisy"] = bool(row["cv"] >= stats.NOISY_CV)
      row["flags"] = _flags(row)
      out.append(row)
  df = pd.DataFrame(out)
  if df.empty: return df
  df["phase_order"] = df["phase"].map(PHASES.index)
  df = df.sort_values([*KEY, "phase_order"], kind="stable").drop(columns="phase_order").reset_index(drop=True)
  df["label"] = label(df)
  return gpu_agreement(df)

SIBLINGS = [k for k in KEY if k != "gpu_index"]  # one configuration on the GPUs of one host (hostname is in KEY)

def gpu_agreement(summary: pd.DataFrame) -> pd.DataFrame:
  """Whether one configuration measured on several GPUs of a host agrees: gpus_agree is true where every GPU's 95%
  interval overlaps every other's, false where two miss, blank with one GPU or without intervals. A GPU whose
  interval ends below its siblings' median is flagged `slower GPU i`. The rows stay one per GPU: gpu_index is in KEY,
  so the check compares them and never pools them (a slow GPU pooled in would hide in a wider interval)."""
  summary["gpus_agree"] = pd.Series([None] * len(summary), dtype=object)
  placed = summary[summary["gpu_index"].astype(str).str.strip().ne("") & summary["gpu_index"].notna()]
  for _, g in placed.groupby([*SIBLINGS, "phase"], sort=False, dropna=False):
    if g["gpu_index"].nunique() < 2 or g[["tok_s_ci95_low", "tok_s_ci95_high"]].isna().any(axis=None): continue
    summary.loc[g.index, "gpus_agree"] = bool(g["tok_s_ci95_low"].max() <= g["tok_s_ci95_high"].min())
    for i, r in g.iterrows():
      if r["tok_s_ci95_high"] < g.drop(index=i)["tok_s_median"].median():
        summary.loc[i, "flags"] = "; ".join(f for f in (f"slower GPU {r['gpu_index']}", summary.loc[i, "flags"]) if f)
  return summary

# ---------------------------------------------------------------- ratios

MATCH = [k for k in KEY if k not in ("backend", "backend_version", "knobs", "mode")]  # what two backends must share to compare
RATIO_COLUMNS = ["kind", "phase", "config", "baseline_config", "backend", "baseline_backend", "label", "baseline_label", *MATCH,
                 "knobs", "baseline_knobs", "baseline_quantize", "baseline_model_type", "tok_s_median", "baseline_tok_s_median",
                 "ratio", "ratio_ci95_low", "ratio_ci95_high", "n_runs", "baseline_n_runs"]

def samples(runs: pd.DataFrame, config: str, phase: str) -> pd.Series:
  """A configuration's rates, the samples of its intervals: its runs', or a serving load level's aggregate throughput,
  one per round (log)."""
  r = runs[runs["config"] == config]
  if phase == "decode" and r["aggregate_tok_s"].notna().all(): return r.drop_duplicates("uuid")["aggregate_tok_s"]
  return r[f"{phase}_tok_s"]

def ratios(runs: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
  """Every ratio the deck and plots show, as a ratio of run medians with a seeded bootstrap interval over runs:
  - backend: each backend setting against every other backend's fastest setting on the same matched configuration
    (device, host, model file, quantization, threads, context, prompt, steps, temperature, batch, concurrency);
  - quantization: each file of a backend setting against its most precise file (same size, weights and settings);
  - setting: each setting of a backend (flash attention, BEAM...) against its first, all else equal; a server's
    settings against its no-batching one (max_batch=1) where it has one.
A serving load level's decode rate is its aggregate throughput, sampled once per round (log): its requests share
the server, so they are not independent samples of it."""
  out = []
  def add(kind: str, num: pd.Series, den: pd.Series, phase: str):
    a, b = samples(runs, num["config"], phase), samples(runs, den["config"], phase)
    ratio, lo, hi = stats.bootstrap_ratio(a, b)
    out.append(dict(zip(RATIO_COLUMNS, (kind, phase, num["config"], den["config"], num["backend"], den["backend"], num["label"],
                                        den["label"], *(num[k] for k in MATCH), num["knobs"], den["knobs"], den["quantize"],
                                        den["model_type"], a.median(), b.median(), ratio, lo, hi, len(a), len(b)))))
  for phase in PHASES:
    s = summary[summary["phase"] == phase]
    for _, same in s.groupby(MATCH, sort=True):
      for backend in sorted(same["backend"].unique()):
        base = same[same["backend"] == backend].sort_values("tok_s_median").iloc[-1]  # its fastest setting: the fair baseline
        for _, r in same[same["backend"] != backend].iterrows(): add("backend", r, base, phase)
    line = [k for k in KEY if k not in ("quantize", "model_type", "model_sha256")]
    for _, same in s.groupby(line, sort=True):
      if len(same) < 2: continue
      bpw = pd.to_numeric(same["bits_per_weight"].str.split(";").str[0], errors="coerce")
      if bpw.isna().any(): continue  # a server does not say which file it serves: no most precise one to compare with
      ref = same.loc[bpw.idxmax()]
      for i, r in same.iterrows():
        if i != ref.name: add("quantization", r, ref, phase)
    for _, same in s.groupby([k for k in KEY if k != "knobs"], sort=True):  # a setting effect, never a "fastest backend"
      same = same.sort_values("knobs", key=lambda k: knob(k, "max_batch") != "1", kind="stable")
      for i, r in same.iloc[1:].iterrows(): add("setting", r, same.iloc[0], phase)
  return pd.DataFrame(out, columns=RATIO_COLUMNS)

# ---------------------------------------------------------------- labels

def label(df: pd.DataFrame, columns=None) -> pd.Series:
  """Each row's settings that vary among the rows given, and only those, spelled as KEY spells them: the fewest
  that still tell every configuration shown apart."""
  cols = [c for c in (columns or KEY) if c in df.columns and df[c].astype(str).nunique() > 1]
  distinct = lambda cs: len(df[cs].astype(str).drop_duplicates()) if cs else 1
  need = distinct(cols)
  for c in LABEL_DROP_ORDER:
    if c in cols and distinct([k for k in cols if k != c]) == need: cols.remove(c)
  if not cols: return pd.Series("", index=df.index, dtype=str)
  text = lambda c: pd.Series(varying_knobs(df[c].astype(str).tolist()), index=df.index) if c == "knobs" else df[c].astype(str)
  spelled = [text(c).map(lambda v, f=KEY.get(c, str): f(v) if v not in ("", "nan") else "") for c in cols]
  return pd.concat(spelled, axis=1).agg(lambda r: ", ".join(x for x in r if x), axis=1)

# ---------------------------------------------------------------- files

def _read(path: Path) -> pd.DataFrame:
  if not Path(path).is_file(): raise AnalysisError(f"no {path}: run `python benchmark_analysis.py -d {Path(path).parent}` first")
  try: df = pd.read_csv(path, dtype={c: str for c in [*KEY, *DESCRIBE_TEXT, "config", "label", "seed", "seeds", "flags", "mixed", "git_commit",
                                                     "versions", "knobs", "baseline_knobs", "source_csv", "baseline_label", "baseline_config",
                                                     "baseline_backend", "baseline_quantize", "baseline_model_type", "kind", "stopped_by", "tree_sha256", "energy_measured"]},
                        keep_default_na=False, na_values=[""])
  except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
    raise AnalysisError(f"{path}: unreadable ({e}): re-run `python benchmark_analysis.py -d {Path(path).parent}`")
  for c in LATER:  # an identity column added after the file was written: blank in it
    if len(df.columns) and c not in df.columns: df[c] = ""
  for c in [*KEY, *DESCRIBE_TEXT, "label", "seeds", "flags", "mixed", "git_commit", "tree_sha256", "energy_measured", "versions", "first_started_at", "last_started_at", "source_csv", "stopped_by"]:
    if c in df.columns: df[c] = df[c].fillna("")
  for c in ("noisy", "drift", "first_run_slow", "imprecise"):
    if c in df.columns: df[c] = df[c].astype(str).str.lower() == "true"
  return df

def read_summary(path: Path) -> pd.DataFrame:
  df = _read(path)
  if len(df.columns) and (missing := [c for c in ("backend", "phase", "tok_s_median", "config") if c not in df.columns]):
    raise AnalysisError(f"{path}: not a summary CSV (no column {', '.join(missing)}): re-run `python benchmark_analysis.py`")
  return df
def read_runs(path: Path) -> pd.DataFrame: return _read(path)
def read_ratios(path: Path) -> pd.DataFrame: return _read(path) if Path(path).is_file() else pd.DataFrame()

def analyse(data: Data) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
  """Steps and logs -> (runs, summary, ratios)."""
  runs = run_table(data)
  summary = summary_table(runs, data)
  return runs, summary, ratios(runs, summary)

def write(folder: Path, runs: pd.DataFrame, summary: pd.DataFrame, ratio: pd.DataFrame) -> Path:
  """summary.csv, runs.csv and ratios.csv into folder; returns summary.csv's path."""
  out = Path(folder) / "summary.csv"
  for path, df in ((out, summary), (out.parent / "runs.csv", runs), (out.parent / "ratios.csv", ratio)):
    write_csv(path, list(df.columns), df)
  return out

def analyse_folder(folder: Path, out_dir: Path | None = None) -> tuple[Data, pd.DataFrame, pd.DataFrame, Path, list[Path]]:
  """The analysis of a folder's collated CSVs, written to out_dir (default: the folder): summary.csv, runs.csv,
  ratios.csv and the scaling tables. Returns the data, runs, summary, summary.csv's path and the tables' paths."""
  data = load(folder)
  if data.steps.empty: raise AnalysisError(f"no status-ok benchmark rows in {folder}/*.csv: run a benchmark and its collate script first")
  runs, summary, ratio = analyse(data)
  with files.together():  # a full disk leaves every earlier output as it was, none half-updated
    out = write(out_dir or folder, runs, summary, ratio)
    tables = scaling.write_tables(summary, out.parent)
  return data, runs, summary, out, tables

TABLE = [("label", "configuration"), ("phase", "phase"), ("n_runs", "runs"), ("tok_s_median", "tok/s (median of runs)"),
         ("ci", "95% CI (t, runs)"), ("cv", "cv"), ("latency_ms_p50", "ms/tok p50"), ("latency_ms_p99", "p99"),
         ("pct_of_roofline", "% roofline"), ("harness_internal_ratio", "harness/int"), ("energy", "J/token"), ("watts", "W"), ("flags", "flags")]

def energy_text(r: dict) -> tuple[str, str]:
  """A summary row's decode J/token and mean watts as a table shows them: `not measured` where no counter was read."""
  m = r.get("energy_measured")
  if r.get("phase") != "decode" or not isinstance(m, str) or not m: return "", ""
  if m == "not measured": return m, ""
  return f"{fmt(r['j_per_token'])} ({r['energy_measured']})", fmt(r["watts_mean"])

def table(summary: pd.DataFrame) -> str:
  """The terminal view every command prints: the columns that have values, one row per configuration and phase."""
  rows = []
  for r in summary.to_dict("records"):
    rows.append({**r, "ci": interval(r["tok_s_ci95_low"], r["tok_s_ci95_high"]), "label": r["label"] or name(r["backend"]), "cv": f"{r['cv']:.1%}" if r["cv"] == r["cv"] else "",
                 **dict(zip(("energy", "watts"), energy_text(r)))})
  # J/token only where some row measured it: a machine without counters keeps the table it had
  measured = any(isinstance(m := r.get("energy_measured"), str) and m not in ("", "not measured") for r in rows)
  cols = [(k, h) for k, h in TABLE if any(str(r.get(k, "")) not in ("", "nan") for r in rows) and (measured or k not in ("energy", "watts"))]
  return stats.format_table([{h: r.get(k) for k, h in cols} for r in rows], [h for _, h in cols])

def main(argv: list[str] | None = None, doc: str | None = None) -> int:
  p = cli.Parser(description=doc or __doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("-d", "--dir", type=Path, default=Path("benchmark_output"), help="folder of collated CSVs (default: %(default)s)")
  p.add_argument("-o", "--output-dir", type=Path, help="where summary.csv, runs.csv, ratios.csv and the scaling tables go (default: DIR)")
  args = p.parse_args(argv)
  try: data, runs, summary, out, tables = analyse_folder(args.dir, args.output_dir)
  except AnalysisError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except OSError as e:
    if not e.filename: raise
    print(f"error: {files.cannot_write(e)}", file=sys.stderr)
    return 1
  print(table(summary))
  for s in data.skipped: print(f"skipped {s}", file=sys.stderr)
  if data.missing: print(f"no data for: {', '.join(map(name, data.missing))}", file=sys.stderr)
  if (noisy := summary["noisy"].sum()): print(f"warning: {noisy} of {len(summary)} configuration-phases noisy (runs' cv >= {stats.NOISY_CV:.0%})", file=sys.stderr)
  if (vague := summary["imprecise"].sum()): print(f"warning: {vague} configuration(s) imprecise: their decode interval misses the --target-ci asked", file=sys.stderr)
  print(f"{out}, runs.csv, ratios.csv{''.join(', ' + t.name for t in tables)}: {len(summary)} configuration-phases from {len(runs)} runs "
        f"in {', '.join(f.name for f in data.files)}")
  return 0
