"""Collated CSVs -> statistics per configuration and phase -> benchmark_output/summary.csv and a terminal table.

A configuration is (backend, device, host, size, quantize, variant), and the seed too with --split-seeds. The variant
names the settings that differ between a backend's runs (flash attention, BEAM, threads), so those are never pooled.
Decode and prefill are summarized separately, from rows whose status is ok only. Every statistic is stats.describe()
over per-step samples:

  latency_ms   per-token latency: a step's total_latency_ms over the tokens it took in (decode: 1; prefill: the prompt)
  tok_s        per step, tokens in / step time
  mem_gb_s     per step, bytes moved (tinygrad's GlobalCounters.global_mem, else the model geometry's lower bound) / step time
  param_gb_s   per step, model bytes / step time
"""
from __future__ import annotations
import csv, io, json, math, sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from . import stats
from .collate import CSV_NAMES, SEED_COLUMNS
from .models import atomic_write

PHASES = ("decode", "prefill")
EXPECTED = ("tinygrad", "llamacpp", "mlc")  # the seed's three backends; one without data is stated, not an error
DISPLAY = {"tinygrad": "tinygrad", "llamacpp": "llama.cpp", "mlc": "MLC-LLM"}
REQUIRED = ("backend", "phase", "status", "total_latency_ms", "n_step_tokens", "size", "quantize", "device", "hostname",
            "seed", "uuid", "run")
FIRST_RUN_SLOW = 1.10  # a first run whose median is 10% above the other runs' is flagged (a missed warmup)
MISMATCH = 0.05        # harness time more than 5% off llama.cpp's own timer is flagged

SUMMARY_COLUMNS = [
  "backend", "device", "hostname", "size", "quantize", "variant", "seed", "phase", "device_name", "model_name", "model_type",
  "weights", "bits_per_weight", "n_params", "model_bytes", "backend_version", "n_configs", "n_runs", "count", "tokens_per_step",
  "latency_ms_mean", "latency_ms_std", "latency_ms_ci95_low", "latency_ms_ci95_high", "latency_ms_median", "latency_ms_p90",
  "latency_ms_p99", "latency_ms_min", "latency_ms_max", "step_ms_median", "cv", "noisy", "outliers", "first_run_slow",
  "tok_s_mean", "tok_s_ci95_low", "tok_s_ci95_high", "tok_s_median",
  "mem_gb_s_mean", "mem_gb_s_ci95_low", "mem_gb_s_ci95_high", "mem_gb_s_median", "memory_bytes_source",
  "param_gb_s_mean", "param_gb_s_ci95_low", "param_gb_s_ci95_high", "param_gb_s_median",
  "roofline_gb_s", "pct_of_roofline", "harness_internal_ratio", "flags",
  "platform", "release", "cpu_model", "python", "versions", "threads", "n_prompt_tokens", "git_commit", "first_started_at",
  "last_started_at", "source_csv"]

class AnalysisError(Exception):
  """A CSV that cannot be analysed. The message names the file and the way out."""

@dataclass(frozen=True)
class Data:
  rows: list[dict]         # status-ok step rows, numbers parsed, with "source_csv" and "variant" added
  files: list[Path]        # the collated CSVs read
  skipped: list[str]       # CSVs in the folder that are not collated benchmark CSVs, and why
  missing: list[str]       # expected backends without a CSV or without ok rows

def backend_of(path: Path) -> str:
  return {v: k for k, v in CSV_NAMES.items()}.get(path.name, path.stem)

def _num(path: Path, line: int, row: dict, col: str, kind=float):
  try: return kind(row[col])
  except (TypeError, ValueError):
    raise AnalysisError(f"{path}:{line}: {col} is {row.get(col)!r}, not a number: re-collate it with "
                        f"`python {backend_of(path)}_collate.py`, or move the file out of {path.parent}/")

def _opt(v: str) -> float:
  try: return float(v)
  except (TypeError, ValueError): return math.nan

def read_csv(path: Path) -> list[dict]:
  """The status-ok step rows of one collated CSV. Raises AnalysisError naming the file for a malformed one."""
  try:
    with open(path, newline="", encoding="utf-8") as f: table = list(csv.reader(f))
  except (UnicodeDecodeError, csv.Error) as e:
    raise AnalysisError(f"{path}: unreadable as CSV ({e}): re-collate it with `python {backend_of(path)}_collate.py`")
  header = table[0] if table else []
  if missing := [c for c in REQUIRED if c not in header]:
    raise AnalysisError(f"{path}: not a collated benchmark CSV (no column {', '.join(missing)}): re-collate it with "
                        f"`python {backend_of(path)}_collate.py`, or move it out of {path.parent}/")
  out = []
  for line, cells in enumerate(table[1:], start=2):
    if len(cells) != len(header):
      raise AnalysisError(f"{path}:{line}: {len(cells)} cells, the header has {len(header)}: the file is damaged; "
                          f"re-collate it with `python {backend_of(path)}_collate.py`")
    row = dict(zip(header, cells))
    if row["status"] != "ok" or row["phase"] not in PHASES: continue
    row["total_latency_ms"], row["n_step_tokens"] = _num(path, line, row, "total_latency_ms"), _num(path, line, row, "n_step_tokens", int)
    if row["total_latency_ms"] <= 0 or row["n_step_tokens"] < 1:
      raise AnalysisError(f"{path}:{line}: a step needs total_latency_ms > 0 and n_step_tokens >= 1: re-run or re-collate it")
    for c in ("memory_throughput_gb_s", "param_throughput_gb_s", "internal_run_decode_ms", "internal_run_prefill_ms",
              "roofline_gb_s", "pct_of_roofline"):
      row[c] = _opt(row.get(c, ""))
    row["source_csv"] = path.name
    out.append(row)
  return out

def is_benchmark_csv(path: Path) -> bool:
  """A backend's CSV by name, or any CSV with the seed's columns first (another server's, issue 5)."""
  if path.stem in EXPECTED or path.name in CSV_NAMES.values(): return True
  try:
    with open(path, newline="", encoding="utf-8") as f: header = next(csv.reader(f), [])
  except (UnicodeDecodeError, csv.Error): return False
  return header[:len(SEED_COLUMNS)] == SEED_COLUMNS

KNOBS = ("tinygrad.beam", "llamacpp.flash_attn")  # settings a user chooses; the other dotted header keys only describe

def variants(rows: list[dict]) -> None:
  """Adds row["variant"]: the knobs (and thread count) that differ between a backend's rows, e.g. 'beam=2'."""
  by_backend = defaultdict(list)
  for r in rows: by_backend[r["backend"]].append(r)
  for rs in by_backend.values():
    settings = [{k: v for k, v in json.loads(r.get("settings") or "{}").items() if k in KNOBS} | {"threads": r.get("threads", "")}
                for r in rs]
    varying = sorted(k for k in set().union(*settings) if len({s.get(k) for s in settings}) > 1)
    for r, s in zip(rs, settings): r["variant"] = " ".join(f"{k.split('.')[-1]}={s.get(k, '')}" for k in varying)

def load(folder: Path = Path("benchmark_output")) -> Data:
  folder = Path(folder)
  if not folder.is_dir(): raise AnalysisError(f"no folder {folder}: run a benchmark and its collate script first, or pass -d DIR")
  files, skipped, rows = [], [], []
  for path in sorted(folder.glob("*.csv")):
    if path.name == "summary.csv" or path.name.startswith("sweep_"): continue  # this module's output, the sweep's own table
    if not is_benchmark_csv(path):
      skipped.append(f"{path.name}: not a collated benchmark CSV")
      continue
    files.append(path)
    rows += read_csv(path)
  variants(rows)
  present = {r["backend"] for r in rows}
  missing = [b for b in EXPECTED if b not in present]
  return Data(rows, files, skipped, missing)

def key_of(row: dict, split_seeds: bool) -> tuple:
  return (row["backend"], row["device"], row["hostname"], row["size"], row["quantize"], row.get("variant", ""),
          row["seed"] if split_seeds else "pooled", row["phase"])

def _join(values) -> str: return "; ".join(sorted({str(v) for v in values if v not in ("", None)}))

def _prefixed(prefix: str, d: dict, keys=("mean", "ci95_low", "ci95_high", "median")) -> dict:
  return {f"{prefix}_{k}": d.get(k, math.nan) for k in keys}

def summarize_group(rows: list[dict]) -> dict:
  r0 = rows[0]
  lat = [r["total_latency_ms"] / r["n_step_tokens"] for r in rows]
  d = stats.describe(lat)
  runs = defaultdict(list)  # (uuid, run) -> that run's samples, in step order
  for r, v in zip(rows, lat): runs[(r["uuid"], r["run"])].append(v)
  firsts = [v for (u, run), vs in runs.items() if run == "0" for v in vs]
  rest = [v for (u, run), vs in runs.items() if run != "0" for v in vs]
  first_slow = bool(firsts and rest) and stats.describe(firsts)["median"] > FIRST_RUN_SLOW * stats.describe(rest)["median"]
  # llama.cpp's own timer, once per run: the harness's sum over the same run's steps should match it
  internal_col = f"internal_run_{r0['phase']}_ms"
  internal = {(r["uuid"], r["run"]): r[internal_col] for r in rows if not math.isnan(r[internal_col])}
  harness = sum(r["total_latency_ms"] for r in rows if (r["uuid"], r["run"]) in internal)
  ratio = harness / sum(internal.values()) if internal and sum(internal.values()) > 0 else math.nan
  mem = stats.describe(r["memory_throughput_gb_s"] for r in rows)
  roofline = stats.describe(r["roofline_gb_s"] for r in rows)
  out = {k: r0[k] for k in ("backend", "device", "hostname", "size", "quantize", "phase")}
  out |= {"variant": r0.get("variant", ""), "seed": _join(r["seed"] for r in rows),
          **{k: _join(r.get(k) for r in rows) for k in ("device_name", "model_name", "model_type", "weights", "bits_per_weight",
             "n_params", "model_bytes", "backend_version", "memory_bytes_source", "platform", "release", "cpu_model", "python",
             "versions", "threads", "n_prompt_tokens", "git_commit", "source_csv")},
          "n_configs": len({r["uuid"] for r in rows}), "n_runs": len(runs), "count": d["count"],
          "tokens_per_step": stats.describe(r["n_step_tokens"] for r in rows)["median"],
          **{f"latency_ms_{k}": d[k] for k in ("mean", "std", "ci95_low", "ci95_high", "median", "p90", "p99", "min", "max")},
          "step_ms_median": stats.describe(r["total_latency_ms"] for r in rows)["median"],
          "cv": d["cv"], "noisy": d["cv"] >= stats.NOISY_CV, "outliers": stats.mad_outliers(lat), "first_run_slow": first_slow,
          **_prefixed("tok_s", stats.describe(1e3 * r["n_step_tokens"] / r["total_latency_ms"] for r in rows)),
          **_prefixed("mem_gb_s", mem),
          **_prefixed("param_gb_s", stats.describe(r["param_throughput_gb_s"] for r in rows)),
          "roofline_gb_s": roofline.get("median", math.nan), "harness_internal_ratio": ratio,
          "first_started_at": min(r.get("started_at", "") for r in rows), "last_started_at": max(r.get("started_at", "") for r in rows)}
  # the CSVs' own % of roofline where the roofline measurement provides it, else memory throughput over bandwidth
  pct = stats.describe(r["pct_of_roofline"] for r in rows)
  out["pct_of_roofline"] = pct["median"] if pct["count"] else \
                           100 * out["mem_gb_s_median"] / out["roofline_gb_s"] if out["roofline_gb_s"] > 0 else math.nan
  out["flags"] = "; ".join(f for f in (f"noisy (cv {d['cv']:.0%})" if out["noisy"] else "",
                                       f"{out['outliers']} MAD outlier(s)" if out["outliers"] else "",
                                       "first run slow" if first_slow else "",
                                       f"harness/internal {ratio:.3f}" if abs(ratio - 1) > MISMATCH else "") if f)
  return out

def summarize(data: Data, split_seeds: bool = False) -> list[dict]:
  groups = defaultdict(list)
  for r in data.rows: groups[key_of(r, split_seeds)].append(r)
  order = lambda k: (*k[:-1], PHASES.index(k[-1]))
  return [summarize_group(groups[k]) for k in sorted(groups, key=order)]

def speedups(summary: list[dict], baseline: str) -> list[dict]:
  """Each other backend's row divided by the baseline's of the same device, host, size, quantize, seed and phase."""
  key = lambda r: (r["device"], r["hostname"], r["size"], r["quantize"], r["seed"], r["phase"])
  base = {}
  for r in summary:  # several baseline variants (e.g. BEAM): compare with its fastest, the fair baseline
    if r["backend"] == baseline and (key(r) not in base or r["tok_s_median"] > base[key(r)]["tok_s_median"]): base[key(r)] = r
  out = []
  for r in summary:
    if r["backend"] == baseline or key(r) not in base: continue
    b = base[key(r)]
    out.append({**r, "speedup_mean": r["tok_s_mean"] / b["tok_s_mean"], "speedup_median": r["tok_s_median"] / b["tok_s_median"],
                # conservative: the ratio's interval from the two intervals' far ends
                "speedup_ci95_low": max(r["tok_s_ci95_low"], 0) / b["tok_s_ci95_high"],
                "speedup_ci95_high": r["tok_s_ci95_high"] / b["tok_s_ci95_low"] if b["tok_s_ci95_low"] > 0 else math.nan})
  return out

def cell(v) -> str:
  if v is None or (isinstance(v, float) and math.isnan(v)): return ""
  if isinstance(v, bool): return str(v).lower()
  if isinstance(v, float): return repr(round(v, 6))
  return str(v)

def to_csv(summary: list[dict]) -> str:
  buf = io.StringIO()
  w = csv.DictWriter(buf, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
  w.writeheader()
  w.writerows({c: cell(r.get(c)) for c in SUMMARY_COLUMNS} for r in summary)
  return buf.getvalue()

def read_summary(path: Path) -> list[dict]:
  """summary.csv back, numbers as floats (NaN where empty), for the deck's data and the terminal views."""
  if not Path(path).is_file(): raise AnalysisError(f"no {path}: run `python benchmark_analysis.py` first")
  with open(path, newline="", encoding="utf-8") as f: rows = list(csv.DictReader(f))
  if rows and (missing := [c for c in ("backend", "phase", "tok_s_median") if c not in rows[0]]):
    raise AnalysisError(f"{path}: not a summary CSV (no column {', '.join(missing)}): re-run `python benchmark_analysis.py`")
  text = {"backend", "device", "hostname", "size", "quantize", "variant", "seed", "phase", "device_name", "model_name",
          "model_type", "weights", "backend_version", "memory_bytes_source", "flags", "platform", "release", "cpu_model",
          "python", "versions", "threads", "n_prompt_tokens", "git_commit", "first_started_at", "last_started_at", "source_csv",
          "bits_per_weight", "n_params", "model_bytes"}
  for r in rows:
    for k, v in r.items():
      if k in ("noisy", "first_run_slow"): r[k] = v == "true"
      elif k not in text: r[k] = _opt(v)
  return rows

TABLE = [("backend", "backend"), ("device", "device"), ("hostname", "host"), ("size", "size"), ("quantize", "quantize"),
         ("variant", "variant"), ("seed", "seed"), ("phase", "phase"), ("n_runs", "runs"), ("count", "n"),
         ("tok_s_median", "tok/s p50"), ("latency_ms_median", "ms/tok p50"), ("latency_ms_mean", "ms/tok mean"),
         ("ci95", "95% CI"), ("latency_ms_p99", "p99"), ("cv", "cv"), ("mem_gb_s_median", "mem GB/s"),
         ("param_gb_s_median", "param GB/s"), ("pct_of_roofline", "% roofline"), ("harness_internal_ratio", "harness/int"),
         ("flags", "flags")]

def table(summary: list[dict]) -> str:
  rows = [{**r, "ci95": f"{r['latency_ms_ci95_low']:.3g}..{r['latency_ms_ci95_high']:.3g}",
           "count": int(r["count"]), "n_runs": int(r["n_runs"])} for r in summary]
  cols = [(k, h) for k, h in TABLE if k in ("backend", "phase") or any(cell(r.get(k)) not in ("", "pooled") for r in rows)]
  return stats.format_table([{h: r.get(k) for k, h in cols} for r in rows], [h for _, h in cols])

def main(argv: list[str] | None = None, doc: str | None = None) -> int:
  import argparse
  p = argparse.ArgumentParser(description=doc or __doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("-d", "--dir", type=Path, default=Path("benchmark_output"), help="folder of collated CSVs (default: %(default)s)")
  p.add_argument("-o", "--output", type=Path, help="summary CSV to write (default: DIR/summary.csv)")
  p.add_argument("--split-seeds", action="store_true", help="one configuration per seed instead of pooling the seeds")
  args = p.parse_args(argv)
  try:
    data = load(args.dir)
    if not data.rows: raise AnalysisError(f"no status-ok benchmark rows in {args.dir}/*.csv: run a benchmark and its collate script first")
  except AnalysisError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  summary = summarize(data, args.split_seeds)
  out = args.output or args.dir / "summary.csv"
  atomic_write(out, to_csv(summary))
  print(table(summary))
  for s in data.skipped: print(f"skipped {s}", file=sys.stderr)
  if data.missing: print(f"no data for: {', '.join(data.missing)}", file=sys.stderr)
  if noisy := [r for r in summary if r["noisy"]]:
    print(f"warning: {len(noisy)} of {len(summary)} configuration-phases noisy (stdev >= {stats.NOISY_CV:.0%} of mean)", file=sys.stderr)
  print(f"{out}: {len(summary)} rows from {', '.join(f.name for f in data.files)}")
  return 0
