"""A/B verdicts: two result folders (each analysis.py's runs.csv and summary.csv), BASE and NEW, before and after an
upgrade or machine A and machine B, and whether each configuration got faster, slower or neither beyond the noise.

Configurations are matched on their identity (config.IDENTITY) less what the log measures about the machine and the
build (config.MEASURED: backend version, host, device name, model file and type): that is what such a comparison
varies, and each matched pair says which of them differ. A key with several configurations on one side (two model
files) is ambiguous: never pooled, listed and skipped. A key on one side only is listed too.
Per matched configuration and phase:
  ratio     NEW/BASE of the run medians (decode: a serving level's aggregate throughput per round), with a seeded
            percentile-bootstrap 95% interval over runs, the two sides resampled apart (stats.bootstrap_ratio)
  verdict   faster (the interval above 1), slower (below 1), else no detectable difference; below 3 runs on a side
            no interval and "too few runs (n)"
  MDE       the smallest relative change these runs' spread could detect at 95% confidence and 80% power: a two-sample
            t-test on log rates (statsmodels), effect size d -> exp(d x pooled sd of log rate) - 1
--fail-above PCT counts a configuration as a regression when its verdict is slower and its ratio (the point estimate)
is below 1 - PCT/100: slower beyond doubt, and by more than PCT percent at the best estimate.
"""
from __future__ import annotations
import argparse, math, sys
from dataclasses import dataclass
from pathlib import Path
import numpy as np
import pandas as pd
from statsmodels.stats.power import TTestIndPower
from inferbench.analyse.analysis import KEY, PHASES, AnalysisError, is_benchmark_csv, read_runs, read_summary, samples
from inferbench.core import cli, stats
from inferbench.core.config import MEASURED
from inferbench.core.files import atomic_write, save_figure
from inferbench.core.names import NONE, fmt, name, pyplot
from inferbench.store.collate import write_csv

MATCH = [k for k in KEY if k not in MEASURED]  # what a BASE and a NEW configuration must share to be compared
ALPHA, POWER = 0.05, 0.80
FASTER, SLOWER, SAME = "faster", "slower", "no detectable difference"
MATCHED, AMBIGUOUS = "matched", "ambiguous"
ONLY = {"base": "only in BASE", "new": "only in NEW"}
COLUMNS = ["phase", "status", *MATCH, "differs", "base_config", "new_config", "base_tok_s_median", "new_tok_s_median", "ratio",
           "ratio_ci95_low", "ratio_ci95_high", "verdict", "mde_pct", "base_n_runs", "new_n_runs", "note"]
COLORS = {FASTER: "#55A868", SLOWER: "#C44E52", SAME: "#4C72B0"}  # too few runs: gray
DPI = 110

@dataclass(frozen=True)
class Side:
  role: str  # BASE or NEW
  folder: Path
  runs: pd.DataFrame
  summary: pd.DataFrame

  @property
  def configs(self) -> pd.DataFrame:
    c = self.summary.drop_duplicates("config")
    return c.assign(key=c[MATCH].astype(str).agg("\x1f".join, axis=1))

  def describe(self) -> str:
    """Where its numbers come from: folder, hosts, devices and backend versions."""
    s = self.summary
    parts = [", ".join(sorted(set(s[c]) - {""})) for c in ("hostname", "device_name")]
    versions = ", ".join(sorted({f"{name(b)} {v}" for b, v in zip(s["backend"], s["backend_version"])}))
    return f"{self.role} {self.folder} ({'; '.join(p for p in [*parts, versions] if p)})"

def read(folder: Path, role: str) -> Side:
  """A result folder's runs and summary. Raises AnalysisError naming the folder and the way out."""
  folder = Path(folder)
  if not folder.is_dir(): raise AnalysisError(f"{role} {folder} is not a folder: pass a folder holding runs.csv and summary.csv")
  if not (folder / "runs.csv").is_file():
    collated = [p.name for p in sorted(folder.glob("*.csv")) if is_benchmark_csv(p)]
    raise AnalysisError(f"{role} {folder} has {'collated CSVs (' + ', '.join(collated) + ') but ' if collated else ''}no runs.csv: "
                        f"run `inferbench analyze -d {folder}` first")
  side = Side(role, folder, read_runs(folder / "runs.csv"), read_summary(folder / "summary.csv"))
  if side.summary.empty: raise AnalysisError(f"{role} {folder}/summary.csv has no configurations: run `inferbench analyze -d {folder}` on its benchmarks")
  return side

def spell(column: str, v: str) -> str: return v[:12] if column == "model_sha256" else v or "''"
def differs(base: pd.Series, new: pd.Series) -> str:
  """The measured columns that differ between the two configurations, and only those: `hostname a -> b`."""
  return "; ".join(f"{c} {spell(c, base[c])} -> {spell(c, new[c])}" for c in MEASURED if base[c] != new[c])

def mde(a: np.ndarray, b: np.ndarray) -> float:
  """The smallest relative change (0.1: 10%) a two-sample t-test on these runs' log rates detects at ALPHA and POWER."""
  la, lb = np.log(a), np.log(b)
  if min(la.size, lb.size) < stats.MIN_RUNS_CI: return math.nan
  sd = math.sqrt(((la.size - 1) * la.var(ddof=1) + (lb.size - 1) * lb.var(ddof=1)) / (la.size + lb.size - 2))
  d = TTestIndPower().solve_power(nobs1=lb.size, ratio=la.size / lb.size, alpha=ALPHA, power=POWER)
  return math.expm1(d * sd)

def verdict(lo: float, hi: float, n: int) -> str:
  if n < stats.MIN_RUNS_CI: return f"too few runs ({n})"
  return FASTER if lo > 1 else SLOWER if hi < 1 else SAME

def pair(base: Side, new: Side, b: pd.Series, n: pd.Series, phase: str) -> dict:
  """One matched configuration's verdict in one phase."""
  a, d = (samples(s.runs, r["config"], phase).dropna().to_numpy() for s, r in ((new, n), (base, b)))
  ratio, lo, hi = stats.bootstrap_ratio(a, d) if a.size and d.size else (math.nan,) * 3
  return {"status": MATCHED, "differs": differs(b, n), "base_config": b["config"], "new_config": n["config"],
          "base_tok_s_median": np.median(d) if d.size else math.nan, "new_tok_s_median": np.median(a) if a.size else math.nan,
          "ratio": ratio, "ratio_ci95_low": lo, "ratio_ci95_high": hi, "verdict": verdict(lo, hi, min(a.size, d.size)),
          "mde_pct": 100 * mde(a, d), "base_n_runs": d.size, "new_n_runs": a.size}

def unmatched(side: Side, rows: pd.DataFrame, phase: str, other: Side, n_other: int) -> dict:
  """A key only one side has, or one with several configurations on a side (ambiguous: not pooled); the other side
  has n_other configurations under it."""
  role = side.role.lower()
  if len(rows) == 1:
    x = samples(side.runs, rows.iloc[0]["config"], phase).dropna()
    return {"status": ONLY[role], "verdict": ONLY[role], f"{role}_config": rows.iloc[0]["config"],
            f"{role}_tok_s_median": x.median() if len(x) else math.nan, f"{role}_n_runs": len(x)}
  varying = [f"{c} {' / '.join(spell(c, v) for v in rows[c].unique())}" for c in MEASURED if rows[c].nunique() > 1]
  return {"status": AMBIGUOUS, "verdict": "ambiguous: skipped", f"{role}_config": "; ".join(rows["config"]),
          "note": f"{side.role} has {len(rows)} configurations under this key, differing in {'; '.join(varying)}: not pooled, skipped"
                  + (f" ({other.role} has {n_other})" if n_other else "")}

def compare(base: Side, new: Side) -> pd.DataFrame:
  """COLUMNS: one row per key (MATCH) and phase of either side, in BASE's order, then NEW's new keys."""
  bc, nc = base.configs, new.configs
  out = []
  for key in dict.fromkeys([*bc["key"], *nc["key"]]):
    b, n = bc[bc["key"] == key], nc[nc["key"] == key]
    first = (b if len(b) else n).iloc[0]
    phases = {*base.summary.loc[base.summary["config"].isin(b["config"]), "phase"], *new.summary.loc[new.summary["config"].isin(n["config"]), "phase"]}
    for phase in (p for p in PHASES if p in phases):
      if len(b) == len(n) == 1: row = pair(base, new, b.iloc[0], n.iloc[0], phase)
      else: row = unmatched(base, b, phase, new, len(n)) if len(b) > 1 or not len(n) else unmatched(new, n, phase, base, len(b))
      out.append({"phase": phase, **{k: first[k] for k in MATCH}, **dict.fromkeys(("differs", "base_config", "new_config", "note"), "")} | row)
  return pd.DataFrame(out, columns=COLUMNS)

def regressions(table: pd.DataFrame, phase: str, pct: float) -> pd.DataFrame:
  """Matched configurations slower beyond doubt (verdict) and by more than pct percent (point estimate)."""
  return table[(table["phase"] == phase) & (table["verdict"] == SLOWER) & (table["ratio"] < 1 - pct / 100)]

# ---------------------------------------------------------------- output

def shown(rows: pd.DataFrame) -> list[str]:
  """The key columns that vary among the rows (the backend where none does), as compare-llama-bench shows them."""
  return [c for c in MATCH if rows[c].astype(str).nunique() > 1] or ["backend"]

def labels(rows: pd.DataFrame) -> list[str]:
  return [" ".join(str(r[c]) for c in shown(rows) if str(r[c])) for _, r in rows.iterrows()]

def ratio_text(r: dict) -> str:
  """0.833 [0.812–0.851]: three decimals, as a ratio near 1 needs."""
  if r["ratio"] != r["ratio"]: return NONE
  return f"{r['ratio']:.3f}" + (f" [{r['ratio_ci95_low']:.3f}–{r['ratio_ci95_high']:.3f}]" if r["ratio_ci95_low"] == r["ratio_ci95_low"] else "")

def markdown(table: pd.DataFrame, base: Side, new: Side, phase: str) -> str:
  """compare.md, which stdout shows too: the phase's rows, then the notes of ambiguous keys."""
  rows = table[table["phase"] == phase]
  cols = shown(rows)
  measured = rows["differs"].astype(bool).any()
  count = lambda v: f"{v:.0f}" if v == v else NONE
  out = [{**{c: r[c] for c in cols}, **({"BASE -> NEW": r["differs"] or NONE} if measured else {}),
          "BASE tok/s": fmt(r["base_tok_s_median"]), "NEW tok/s": fmt(r["new_tok_s_median"]),
          "NEW/BASE [95% CI]": ratio_text(r),
          "verdict": r["verdict"], "MDE": f"{r['mde_pct']:.1f}%" if r["mde_pct"] == r["mde_pct"] else NONE,
          "runs (BASE, NEW)": f"{count(r['base_n_runs'])}, {count(r['new_n_runs'])}"} for r in rows.to_dict("records")]
  notes = [f"- {l}: {r['note']}" for l, r in zip(labels(rows), rows.to_dict("records")) if r["note"]]
  return "\n".join([f"# {phase} tok/s, NEW against BASE", "", f"- {base.describe()}", f"- {new.describe()}",
                    f"- NEW/BASE: ratio of the run medians, seeded bootstrap 95% CI over runs (unpaired); MDE: the smallest change "
                    f"these runs could detect (95% confidence, 80% power)", "",
                    stats.format_table(out, list(out[0]), markdown=True) if out else f"no {phase} rows", *([""] + notes if notes else [])]) + "\n"

def plot(table: pd.DataFrame, base: Side, new: Side, phase: str, path: Path) -> Path | None:
  """One point per matched configuration: its ratio with its interval's whisker, a line at 1, coloured by verdict;
  None where nothing matched."""
  rows = table[(table["phase"] == phase) & (table["status"] == MATCHED)].reset_index(drop=True)
  if rows.empty: return None
  plt = pyplot()
  fig, ax = plt.subplots(figsize=(9, 1.6 + 0.45 * len(rows)))
  ys = np.arange(len(rows))[::-1]
  for y, r in zip(ys, rows.to_dict("records")):
    c = COLORS.get(r["verdict"], "#8C8C8C")
    if r["ratio_ci95_low"] == r["ratio_ci95_low"]: ax.plot([r["ratio_ci95_low"], r["ratio_ci95_high"]], [y, y], color=c, lw=2.5, solid_capstyle="butt")
    ax.plot(r["ratio"], y, "o", color=c, ms=7, mfc=c if r["verdict"] in COLORS else "white")
    ax.annotate(f"{ratio_text(r)}  {r['verdict']}" + (f", MDE {r['mde_pct']:.0f}%" if r["mde_pct"] == r["mde_pct"] else ""), (1.02, y),
                xycoords=("axes fraction", "data"), va="center", fontsize=8, color=c)  # beside the axes: never over a whisker
  ax.axvline(1, color="black", lw=1)
  ax.set_yticks(ys, labels(rows))
  ax.set_ylim(-0.7, len(rows) - 0.3)
  lo, hi = np.nanmin([*rows["ratio_ci95_low"], *rows["ratio"], 1]), np.nanmax([*rows["ratio_ci95_high"], *rows["ratio"], 1])
  ax.set_xlim(lo - 0.05 * (hi - lo + 0.1), hi + 0.05 * (hi - lo + 0.1))
  ax.set_xlabel(f"NEW / BASE {phase} tok/s  (> 1: NEW faster)")
  ax.grid(axis="x", alpha=0.3)
  ax.set_title(f"{phase} tok/s, NEW against BASE: median of runs, bootstrap 95% CI\n{base.describe()}\n{new.describe()}", fontsize=8, loc="left")
  return save_figure(fig, path, DPI)

def write(table: pd.DataFrame, md: str, out_dir: Path) -> list[Path]:
  write_csv(out_dir / "compare.csv", COLUMNS, table)
  atomic_write(out_dir / "compare.md", md)
  return [out_dir / "compare.csv", out_dir / "compare.md"]

def main(argv: list[str] | None = None) -> int:
  p = cli.Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # the verdicts' definitions
  p.add_argument("base", type=Path, metavar="BASE", help="the result folder compared against (runs.csv, summary.csv: inferbench analyze)")
  p.add_argument("new", type=Path, metavar="NEW", help="the result folder compared")
  p.add_argument("--metric", choices=PHASES, default="decode", help="the phase the table, the plot and --fail-above are about "
                 "(compare.csv has both; default: %(default)s)")
  p.add_argument("--fail-above", type=cli.number(0), metavar="PCT", help="exit 1 when a configuration is slower (its interval below 1) "
                 "and its ratio below 1 - PCT/100, naming each")
  p.add_argument("-o", "--output-dir", type=Path, help="where compare.csv and compare.md go (default: NEW)")
  p.add_argument("--plot", type=Path, default=Path("plots/compare.png"), help="the ratios as points with their intervals (default: %(default)s)")
  args = p.parse_args(argv)
  try:
    base, new = read(args.base, "BASE"), read(args.new, "NEW")
    out_dir = cli.output_dir(args.output_dir or args.new)
    cli.output_dir(args.plot.parent, "--plot's folder")
    table = compare(base, new)
    md = markdown(table, base, new, args.metric)
    files = [*write(table, md, out_dir), *filter(None, [plot(table, base, new, args.metric, args.plot)])]
  except (AnalysisError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(md, end="")
  if not (table["status"] == MATCHED).any(): print(f"warning: no configuration is in both {base.folder} and {new.folder}: no plot", file=sys.stderr)
  print(", ".join(map(str, files)), file=sys.stderr)
  if args.fail_above is None: return 0
  rows = table[table["phase"] == args.metric]
  label = dict(zip(rows.index, labels(rows)))
  bad = regressions(rows, args.metric, args.fail_above)
  for i, r in bad.iterrows():
    print(f"regression beyond {args.fail_above:g}%: {label[i]}: NEW/BASE {ratio_text(r)}", file=sys.stderr)
  if bad.empty: print(f"no {args.metric} regression beyond {args.fail_above:g}%", file=sys.stderr)
  return 1 if len(bad) else 0
