#!/usr/bin/env python3
"""What --target-ci bought: from a folder's runs.csv (logs measured with --target-ci), per configuration, the runs it
took, why it stopped, the decode tok/s 95% interval (as +-% of the median, stats.ci_pct) over its first 3 runs (what
a fixed --runs 3 would have reported, in the same process on the same machine) against over all its runs, and the
seconds measured. Prints a table and a total; asserts nothing.

  python benchmarks/target_ci_effect.py -d benchmark_output
"""
from __future__ import annotations
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import numpy as np  # noqa: E402
from inferbench.analyse.analysis import AnalysisError, read_runs  # noqa: E402
from inferbench.core import cli, stats  # noqa: E402
from inferbench.core.names import name  # noqa: E402

FIXED = 3  # the runs a fixed --runs 3 measures

def effect(runs) -> list[dict]:
  """One row per configuration whose logs asked for a target, its runs in the order they ran."""
  rows = []
  for config, g in runs[runs["target_ci_pct"].notna()].groupby("config", sort=False):
    g = g.sort_values(["started_at", "uuid", "run"], kind="stable")
    tok = g["decode_tok_s"].to_numpy()
    rows.append({"configuration": g["label"].iloc[0] or name(g["backend"].iloc[0]), "target +-%": g["target_ci_pct"].min(), "runs": len(g),
                 "stopped by": "; ".join(sorted(set(g["stopped_by"]) - {""})), f"+-% over {FIXED} runs": stats.ci_pct(tok[:FIXED]), "+-% over all": stats.ci_pct(tok),
                 "measured s": float((g["decode_ms"].sum() + g["prefill_ms"].sum()) / 1e3)})
  return rows

def main(argv: list[str] | None = None) -> int:
  p = cli.Parser(description=__doc__.split("\n\n")[0])
  p.add_argument("-d", "--dir", type=Path, default=Path("benchmark_output"), help="folder of runs.csv (inferbench analyze writes it)")
  args = p.parse_args(argv)
  try: runs = read_runs(args.dir / "runs.csv")
  except AnalysisError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  if "target_ci_pct" not in runs or not (rows := effect(runs)):
    print(f"error: no run in {args.dir}/runs.csv was measured with --target-ci: benchmark with --target-ci PCT, collate and analyze first", file=sys.stderr)
    return 2
  print(stats.format_table(rows, list(rows[0])))
  met = sum(r["stopped by"].startswith("target met") for r in rows)
  fixed, full = (np.nanmedian([r[k] for r in rows]) for k in (f"+-% over {FIXED} runs", "+-% over all"))
  print(f"total: {len(rows)} configuration(s), {sum(r['runs'] for r in rows)} runs, {sum(r['measured s'] for r in rows):,.1f} s measured; "
        f"target met in {met}; median interval +-{fixed:.1f}% over {FIXED} runs, +-{full:.1f}% over all")
  return 0

if __name__ == "__main__": sys.exit(main())
