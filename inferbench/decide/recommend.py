"""Which backend, quantization and settings to use under a user's limits, from a result folder's own files:

  speed    summary.csv's decode rows (median tok/s over runs, its t-interval) and the prefill rows' TTFT
  quality  the sweep's sweep_*.csv (perplexity, KL and top-1 against the F16 reference, task accuracy and its paired
           difference from F16 with its 95% interval), joined by the
           model file's sha256 (the same file has the same quality on any device), else by size and GGUF type; never
           for synthetic weights, whose quality means nothing
  memory   measured peak where the logs have it (VRAM on a GPU, RSS on a CPU), else the logs' prediction (weights +
           KV cache + compute buffers): memory_source says which
  predicted rows: the sweep's quantizations a backend x device x settings never ran, their speed from the physical
           decode model fitted on that group's runs (latency_model.py, with its 95% prediction interval), their memory the same
           group's measured peak at that size less its file, plus this file. source = predicted on every such row.

A row with no value for a constrained quantity is excluded by that constraint (unknown is not within a limit). The
answer is ranked by --objective; the Pareto front of speed x quality (KL) x memory goes to pareto.csv and a plot.
When nothing is left, the constraint that excludes the most is named, with what each one excludes.
`inferbench recommend --verify` (inferbench/run/verify.py: measuring is the run layer's) then measures the pick
against the best alternatives in interleaved rounds before it is trusted.
"""
from __future__ import annotations
import argparse, math, sys, warnings
from dataclasses import dataclass, fields
from pathlib import Path
import numpy as np
import pandas as pd
from inferbench.core import names, cli, memory
from inferbench.decide import latency_model, work
from inferbench.core.names import color, knob_words, name, with_ci
from inferbench.analyse.analysis import AnalysisError, read_runs, read_summary
from inferbench.store.collate import write_csv
from inferbench.core.files import save_figure
from inferbench.core.stats import format_table

OBJECTIVES = {"fastest": (["tok_s"], [False]), "smallest": (["memory_bytes", "tok_s"], [True, False]),
              "quality": (["kl_mean", "perplexity", "tok_s"], [True, True, False]),
              "energy": (["j_per_token", "tok_s"], [True, False])}  # decode joules per token (GPU + CPU counters read), then speed
QUALITY = ["perplexity", "ppl_increase_pct", "kl_mean", "top1_agreement", "task_accuracy", "task_diff_vs_f16", "task_diff_ci95_low",
           "task_diff_ci95_high", "task_diff_p_mcnemar_holm", "task_verdict", "accuracy_drop_pct_high"]
COLUMNS = ["rank", "source", "backend", "device", "device_name", "hostname", "size", "weights", "quantize", "model_type", "bits_per_weight",
           "knobs", "batch", "threads", "tok_s", "tok_s_ci95_low", "tok_s_ci95_high", "ttft_ms", "memory_bytes", "memory_source",
           "j_per_token", "j_per_token_ci95_low", "j_per_token_ci95_high", "watts_mean", "energy_measured",
           *QUALITY, "quality_from", "n_runs", "flags", "config", "label", "excluded_by", "constraints"]

@dataclass(frozen=True)
class Constraints:
  max_memory_bytes: int | None = None
  max_kl: float | None = None
  max_ppl_increase_pct: float | None = None
  min_tok_s: float | None = None
  max_ttft_ms: float | None = None
  device: str | None = None
  size: str | None = None
  objective: str = "fastest"
  max_accuracy_drop_pct: float | None = None
  max_watts: float | None = None

  def tests(self) -> dict[str, tuple[str, object]]:
    """flag -> (column, keep(values) -> bool mask), for the constraints given."""
    t = {"--max-memory": ("memory_bytes", lambda v: v <= self.max_memory_bytes, self.max_memory_bytes),
         "--max-kl": ("kl_mean", lambda v: v <= self.max_kl, self.max_kl),
         "--max-ppl-increase": ("ppl_increase_pct", lambda v: v <= self.max_ppl_increase_pct, self.max_ppl_increase_pct),
         "--min-tok-s": ("tok_s", lambda v: v >= self.min_tok_s, self.min_tok_s),
         "--max-ttft-ms": ("ttft_ms", lambda v: v <= self.max_ttft_ms, self.max_ttft_ms),
         "--max-accuracy-drop": ("accuracy_drop_pct_high", lambda v: v <= self.max_accuracy_drop_pct, self.max_accuracy_drop_pct),
         "--device": ("device", lambda v: v == self.device, self.device), "--size": ("size", lambda v: v == self.size, self.size),
         "--max-watts": ("watts_mean", lambda v: v <= self.max_watts, self.max_watts)}
    return {k: (c, f) for k, (c, f, given) in t.items() if given is not None}

  @classmethod
  def parse(cls, text: str) -> "Constraints":
    """The constraints as recommendation.csv spells them ("max_memory_bytes=1073741824 objective=fastest")."""
    kinds = {f.name: f.type for f in fields(cls)}
    cast = lambda k, v: v if "str" in kinds[k] else int(v) if "int" in kinds[k] else float(v)
    return cls(**{k: cast(k, v) for k, _, v in (item.partition("=") for item in text.split()) if k in kinds})

  @property
  def lines(self) -> dict[str, float]:
    """The limits a chart draws, by the candidates' column they bound."""
    return {c: v for c, v in (("memory_bytes", self.max_memory_bytes), ("kl_mean", self.max_kl), ("tok_s", self.min_tok_s)) if v is not None}

@dataclass(frozen=True)
class Answer:
  table: pd.DataFrame       # the candidates that satisfy every constraint, ranked (COLUMNS)
  candidates: pd.DataFrame  # every candidate, `excluded_by` naming the constraints it fails
  front: pd.DataFrame       # the Pareto front of speed x KL x memory among the candidates that have all three
  why: str                  # empty, or why nothing satisfies the constraints

# ---------------------------------------------------------------- the candidates

SWEEP_COLUMNS = ["model_sha256", "size", "quant", "bits_per_weight", "file_bytes", "perplexity", "kl_mean", "top1_agreement", "task_accuracy"]  # what every sweep CSV has

def quality_table(paths: list[Path]) -> pd.DataFrame:
  """The sweeps' ok quality rows, one per file, with the perplexity increase over that sweep's F16 reference."""
  frames, cols = [], ["model_sha256", "size", "quant", "bits_per_weight", "file_bytes", *QUALITY, "quality_from"]
  for path in paths:
    try: q = pd.read_csv(path, dtype={"model_sha256": str, "size": str, "quant": str})
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, OSError) as e:
      raise AnalysisError(f"{path}: unreadable as a sweep CSV ({str(e).splitlines()[0][:120]}): re-run the sweep (llamacpp_sweep.py), or move it away") from None
    if missing := [c for c in SWEEP_COLUMNS if c not in q.columns]:
      raise AnalysisError(f"{path}: not a sweep CSV (no column {', '.join(missing)}): pass a sweep_SIZE.csv of llamacpp_sweep.py")
    q = q[q["perplexity"].notna()].drop_duplicates("quant")
    ref = q.loc[q["quant"] == "F16", "perplexity"]
    q["ppl_increase_pct"] = 100 * (q["perplexity"] / ref.iloc[0] - 1) if len(ref) else math.nan
    for col in ("task_diff_vs_f16", "task_diff_ci95_low", "task_diff_ci95_high", "task_diff_p_mcnemar_holm", "task_verdict"):
      if col not in q: q[col] = math.nan  # a sweep from before the paired difference
    # the drop from F16 in points that the 95% interval still allows: a limit on it holds with that confidence
    q["accuracy_drop_pct_high"] = -100 * q["task_diff_ci95_low"].astype(float)
    frames.append(q.assign(quality_from=path.name))
  return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)

def join_quality(c: pd.DataFrame, q: pd.DataFrame) -> pd.DataFrame:
  """Quality by the very file, else by size and GGUF type of real weights (quality_from says which)."""
  by_file = c[["model_sha256"]].merge(q.drop_duplicates("model_sha256"), on="model_sha256", how="left").set_index(c.index)
  by_type = c[["size", "model_type"]].merge(q.drop_duplicates(["size", "quant"]).rename(columns={"quant": "model_type"}),
                                            on=["size", "model_type"], how="left").set_index(c.index)
  same = by_file["perplexity"].notna()
  real = c["weights"] != "synthetic"
  out = c.copy()
  for col in QUALITY: out[col] = by_file[col].where(same, by_type[col].where(real))
  out["quality_from"] = np.where(same, by_file["quality_from"] + " (same file)",
                                 np.where(real & by_type["perplexity"].notna(), by_type["quality_from"] + " (same size and type)", ""))
  return out

def measured_candidates(summary: pd.DataFrame) -> pd.DataFrame:
  d = summary[summary["phase"] == "decode"].copy()
  ttft = summary[summary["phase"] == "prefill"].set_index("config")["ttft_ms_median"]
  d["ttft_ms"] = d["config"].map(ttft)
  d["tok_s"] = d["tok_s_median"]
  cuda = d["device"] == "cuda"
  peak = d["peak_device_bytes"].where(cuda, d["peak_rss_bytes"])
  f = work.features(d)
  least = f["model_bytes"] + f["batch"] * f["kv_bytes_per_position"] * work.number(d["ctx"])  # logs older than predicted_bytes
  d["memory_bytes"] = peak.fillna(d["predicted_bytes"]).fillna(least)
  d["memory_source"] = np.where(peak.notna(), "measured", np.where(d["predicted_bytes"].notna(), "predicted",
                                                                  np.where(least.notna(), "predicted (weights + KV only)", "")))
  return d.assign(source="measured")

def predicted_candidates(folder: Path, measured: pd.DataFrame, quality: pd.DataFrame) -> pd.DataFrame:
  """The sweep's quantizations a group never ran at a size it ran, by that group's physical decode model."""
  if quality.empty or not (folder / "runs.csv").is_file(): return pd.DataFrame()
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    runs = work.features(read_runs(folder / "runs.csv"))
    fits = latency_model.fit(runs[runs["decode_tok_s_per_seq"].notna()], "decode")
  rows = []
  # only rows that name their model file's bytes: the prediction swaps that file for the sweep's (a server does not say which it serves)
  known = measured[(measured["weights"] != "synthetic") & work.number(measured["model_bytes"]).notna()]
  for (*_, size), d in known.groupby([*work.GROUP, "size"], sort=True):
    ran = set(d["model_type"]) | set(d["quantize"])
    ref = d.sort_values("n_runs").iloc[-1]
    for _, q in quality[(quality["size"] == size) & ~quality["quant"].isin(ran)].iterrows():
      mem = ref["memory_bytes"] - float(str(ref["model_bytes"]).split(";")[0]) + q["file_bytes"]
      rows.append({**ref.to_dict(), "quantize": q["quant"], "model_type": q["quant"], "model_sha256": q["model_sha256"],
                   "bits_per_weight": q["bits_per_weight"], "model_bytes": q["file_bytes"], "config": predicted_config(ref["config"], q["quant"]),
                   "memory_bytes": mem, "memory_source": "predicted", "source": "predicted", "n_runs": 0, "ttft_ms": math.nan,
                   **dict.fromkeys(("j_per_token", "j_per_token_ci95_low", "j_per_token_ci95_high", "watts_mean"), math.nan),
                   "energy_measured": "not measured",  # no energy model: a predicted row's energy is unknown
                   "flags": f"speed predicted by the physical decode model of {name(ref['backend'])} {ref['device']} {ref['knobs']}"})
  if not rows: return pd.DataFrame()
  p = pd.DataFrame(rows)
  f = work.features(p)
  pr = latency_model.predict(fits, f, "decode")
  p["tok_s"], p["tok_s_ci95_low"], p["tok_s_ci95_high"] = (1e3 * f["batch"] / pr[c] for c in ("ms", "hi", "lo"))
  return p[p["tok_s"].notna()]

def predicted_config(reference: str, quant: str) -> str: return f"predicted {reference} {quant}"
def reference_config(config: str) -> str:
  """The measured configuration whose settings and runs a predicted row's config (predicted_config) was made from."""
  return config.split(" ")[1]

def candidates(folder: Path, quality_paths: list[Path] = ()) -> pd.DataFrame:
  folder = Path(folder)
  summary = read_summary(folder / "summary.csv")
  if summary.empty: raise AnalysisError(f"{folder}/summary.csv has no rows: run a benchmark and benchmark_analysis.py first")
  quality = quality_table(sorted({*folder.glob("sweep_*.csv"), *map(Path, quality_paths)}))
  m = measured_candidates(summary)
  c = pd.concat([m, predicted_candidates(folder, m, quality)], ignore_index=True)
  c = join_quality(c, quality)
  for col in ("bits_per_weight", "batch", "threads"): c[col] = work.number(c[col])
  return c

# ---------------------------------------------------------------- the answer

def pareto_front(c: pd.DataFrame) -> pd.DataFrame:
  """Rows no other row beats on all of: faster, lower KL, less memory (at least as good on each, better on one)."""
  d = c.dropna(subset=["tok_s", "kl_mean", "memory_bytes"])
  x = np.column_stack([-d["tok_s"], d["kl_mean"], d["memory_bytes"]]).astype(float)
  beaten = [bool(((x <= x[i]).all(axis=1) & (x < x[i]).any(axis=1)).any()) for i in range(len(x))]
  return d[~np.array(beaten, dtype=bool)] if len(d) else d

def answer(folder: Path, constraints: Constraints = Constraints(), quality_paths: list[Path] = ()) -> Answer:
  """The ranked candidates that satisfy the constraints (each row marked source = measured | predicted)."""
  c = candidates(folder, quality_paths)
  fails = pd.DataFrame({flag: ~c[col].map(lambda v, f=keep: bool(pd.notna(v) and f(v))) for flag, (col, keep) in constraints.tests().items()},
                       index=c.index)
  c["excluded_by"] = fails.apply(lambda r: " ".join(f for f in fails.columns if r[f]), axis=1) if len(fails.columns) else ""
  ok = c[c["excluded_by"] == ""]
  by, ascending = OBJECTIVES[constraints.objective]
  table = ok.sort_values(by, ascending=ascending, na_position="last", kind="stable").reset_index(drop=True)
  table.insert(0, "rank", range(1, len(table) + 1))
  c.insert(0, "rank", c["config"].map(dict(zip(table["config"], table["rank"]))))
  why = ""
  if table.empty:
    counts = fails.sum().sort_values(ascending=False, kind="stable")
    unknown = {f: int(c[col].isna().sum()) for f, (col, _) in constraints.tests().items()}
    parts = [f"{f} excludes {n} of {len(c)}" + (f" ({unknown[f]} without a value)" if unknown[f] else "") for f, n in counts.items()]
    why = (f"nothing satisfies the constraints: {counts.index[0]} excludes the most; " + "; ".join(parts)) if len(counts) else \
          f"no candidates in {folder}"
  reindex = lambda df: df.reindex(columns=COLUMNS)
  return Answer(reindex(table), reindex(c), reindex(pareto_front(c)), why)

# ---------------------------------------------------------------- output

def show(a: Answer, limit: int = 15) -> str:
  def cells(r) -> dict:
    return {"#": r["rank"], "source": r["source"], "backend": name(r["backend"]), "device": r["device"],
            "model": f"{r['size']}{' synthetic' if r['weights'] == 'synthetic' else ''}", "quant": r["quantize"], "settings": knob_words(r["knobs"]) if isinstance(r["knobs"], str) else r["knobs"],
            "tok/s [95%]": with_ci(r["tok_s"], r["tok_s_ci95_low"], r["tok_s_ci95_high"]), "TTFT ms": r["ttft_ms"],
            "memory": "-" if pd.isna(r["memory_bytes"]) else f"{memory.format_size(int(r['memory_bytes']))} ({r['memory_source']})",
            "KL": r["kl_mean"], "ppl +%": r["ppl_increase_pct"], "top-1": r["top1_agreement"], "tasks": r["task_accuracy"],
            "tasks vs F16 [95%]": "-" if pd.isna(r["task_diff_vs_f16"]) else
              f"{with_ci(100 * r['task_diff_vs_f16'], 100 * r['task_diff_ci95_low'], 100 * r['task_diff_ci95_high'])} pt {r['task_verdict']}"
              + ("" if pd.isna(r["task_diff_p_mcnemar_holm"]) else f" (Holm-adjusted p {r['task_diff_p_mcnemar_holm']:.3g})"),
            **({"J/token": "not measured" if pd.isna(r["j_per_token"]) else f"{names.fmt(r['j_per_token'])} ({r['energy_measured']})",
                "W": r["watts_mean"]} if energy else {})}
  energy = a.table["j_per_token"].notna().any()  # the energy columns only where some candidate has them
  rows = [cells(r) for _, r in a.table.head(limit).iterrows()]
  return format_table(rows, list(rows[0])) + (f"\n... {len(a.table) - limit} more in the CSV" if len(a.table) > limit else "") if rows else a.why

def draw(a: Answer, out: Path, title: str) -> Path:
  plt = names.pyplot()
  d = a.candidates.dropna(subset=["tok_s", "kl_mean", "memory_bytes"])
  fig, ax = plt.subplots(figsize=(9, 5.5))
  if d.empty: ax.text(0.5, 0.5, "no candidate has a speed, a KL and a memory", ha="center", transform=ax.transAxes)
  front = set(a.front["config"])
  for (backend, source), g in d.groupby(["backend", "source"], sort=True):
    size = 30 + 300 * g["memory_bytes"] / d["memory_bytes"].max()
    ax.scatter(g["tok_s"], g["kl_mean"], s=size, marker="o" if source == "measured" else "D", edgecolors=color(backend),
               facecolors=color(backend) if source == "measured" else "none", alpha=0.8, label=f"{name(backend)}, {source}")
  f = d[d["config"].isin(front)].sort_values("tok_s")
  ax.plot(f["tok_s"], f["kl_mean"], "-", color="tab:red", lw=1, label="Pareto front (speed x KL x memory)")
  for _, r in f.iterrows():
    ax.annotate(f"{r['quantize']} {knob_words(r['knobs']) if isinstance(r['knobs'], str) else ''}\n{memory.format_size(int(r['memory_bytes']))}", (r["tok_s"], r["kl_mean"]),
                textcoords="offset points", xytext=(6, 4), fontsize=7)
  ax.set_yscale("symlog", linthresh=1e-3)
  ax.set_xlabel("decode tok/s (median over runs; predicted: physical decode model)")
  ax.set_ylabel("KL divergence to F16 (mean per token; lower is better)")
  ax.set_title(f"{title}\nmarker area: memory (peak measured, else predicted); hollow diamonds: predicted speed", fontsize=9)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)
  return save_figure(fig, out, 110)

def parser(doc: str | None = None) -> argparse.ArgumentParser:
  p = cli.Parser(description=doc or __doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("-d", "--dir", type=Path, default=Path("benchmark_output"), help="folder holding summary.csv, runs.csv and sweep_*.csv (default: %(default)s)")
  p.add_argument("--quality", nargs="+", type=Path, default=[], metavar="SWEEP_CSV", help="more sweep CSVs (quality is the file's, on any device)")
  p.add_argument("--max-memory", help="peak memory at most this (e.g. 1GiB, 600MiB): VRAM on a GPU, RSS on a CPU")
  p.add_argument("--max-kl", type=cli.number(0), help="mean KL divergence to the F16 reference at most this")
  p.add_argument("--max-ppl-increase", type=cli.number(0), help="perplexity at most this many percent above the F16 reference")
  p.add_argument("--min-tok-s", type=cli.number(0), help="decode tok/s at least this")
  p.add_argument("--max-ttft-ms", type=cli.number(0), help="time to first token at most this")
  p.add_argument("--max-accuracy-drop", type=cli.number(0), metavar="PCT",
                 help="task accuracy at most PCT points below F16's, at 95%% (the paired interval's far end, on the same examples)")
  p.add_argument("--device", choices=["cpu", "cuda"], help="only this device")
  p.add_argument("--size", help="only this model size")
  p.add_argument("--max-watts", type=cli.number(0, inclusive=False),
                 help="mean power over the decode steps at most this (GPU + CPU package counters, where the logs read them)")
  p.add_argument("--objective", choices=list(OBJECTIVES), default="fastest",
                 help="rank by (default: %(default)s); energy: decode joules per token, lowest first (rows without energy last)")
  p.add_argument("-o", "--output-dir", type=Path, help="recommendation.csv and pareto.csv go here (default: DIR)")
  p.add_argument("--plot", type=Path, default=Path("plots/pareto_front.png"), help="(default: %(default)s)")
  return p

def respond(args: argparse.Namespace) -> tuple[int, Answer | None, str]:
  """The answer to parsed flags, printed and written (recommendation.csv, pareto.csv, the plot): the exit code, the
  answer (None after a bad value, its one-line error printed) and the constraints it answers, spelled as in the CSV."""
  try:
    limit = memory.parse_size(args.max_memory) if args.max_memory is not None else None
    if limit is not None and limit <= 0: raise ValueError(f"--max-memory {args.max_memory}: pass a positive size, e.g. 1GiB")
    out = cli.output_dir(args.output_dir or args.dir)
    cli.output_dir(args.plot.parent, "--plot's folder")
    if missing := [q for q in args.quality if not q.is_file()]: raise ValueError(f"--quality {missing[0]}: no such file (a sweep_SIZE.csv of llamacpp_sweep.py)")
    c = Constraints(limit, args.max_kl, args.max_ppl_increase, args.min_tok_s, args.max_ttft_ms, args.device, args.size, args.objective,
                    max_accuracy_drop_pct=args.max_accuracy_drop, max_watts=getattr(args, "max_watts", None))
  except ValueError as e:
    print(f"error: {str(e).replace('memory size', '--max-memory')}", file=sys.stderr)
    return 2, None, ""
  try: a = answer(args.dir, c, args.quality)  # bad data is an AnalysisError; anything else is a bug and shows as one
  except AnalysisError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2, None, ""
  given = " ".join(f"{f.name}={getattr(c, f.name)}" for f in fields(c) if getattr(c, f.name) is not None)
  print(f"{args.dir}: {len(a.candidates)} candidates ({(a.candidates['source'] == 'predicted').sum()} predicted); {given}")
  print(show(a))
  if "energy" in (c.objective, "watts" if c.max_watts else "") and not a.candidates["j_per_token"].notna().any():
    print("note: no candidate has its energy measured (NVML on a GPU, RAPL's energy_uj on a CPU): "
          + ("ranked by speed" if c.objective == "energy" else "--max-watts excludes them all"), file=sys.stderr)
  write_csv(out / "recommendation.csv", COLUMNS, a.table.assign(constraints=given))  # the limits it answers, for the deck
  write_csv(out / "pareto.csv", COLUMNS, a.front)
  plot = draw(a, args.plot, f"{args.dir}: speed x quality x memory, {len(a.front)} on the Pareto front")
  print(f"{out / 'recommendation.csv'}, {out / 'pareto.csv'}, {plot}")
  return 0 if len(a.table) else 1, a, given
