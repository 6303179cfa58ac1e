"""Terminal view of summary.csv: per phase, each configuration's median tok/s over runs as a bar, with its 95%
t-interval over runs, the runs, the steps and instability flags."""
import math, sys
from pathlib import Path
from inferbench.analyse.analysis import PHASES, AnalysisError, read_summary
from inferbench.core import cli
from inferbench.core.names import interval

def bar(value: float, top: float, width: int = 30) -> str:
  n = 0 if not top or math.isnan(value) else value / top * width
  return "█" * int(n) + " ▏▎▍▌▋▊▉"[int((n - int(n)) * 8)].strip()

def main(argv: list[str] | None = None, doc: str | None = None) -> int:
  p = cli.Parser(description=doc)
  p.add_argument("-d", "--dir", type=Path, default=Path("benchmark_output"), help="folder of summary.csv (inferbench analyze writes it)")
  p.add_argument("--ascii", action="store_true", help="plain text, no colours or box drawing (for logs)")
  args = p.parse_args(argv)
  try: rows = read_summary(args.dir / "summary.csv")
  except AnalysisError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  from rich.console import Console
  from rich.table import Table
  from rich import box
  console = Console(no_color=args.ascii, highlight=False)
  for phase in PHASES:
    rs = rows[rows["phase"] == phase]
    if rs.empty:
      console.print(f"{phase}: no data")
      continue
    top = rs["tok_s_median"].max()
    t = Table(title=f"{phase}: median tok/s over runs ({'1 token per sequence per step' if phase == 'decode' else 'whole prompt per step'})",
              box=box.ASCII if args.ascii else box.SIMPLE_HEAD, title_justify="left")
    for c in ("configuration", "runs", "steps", "tok/s", "", "95% CI (runs)", "cv", "flags"):
      t.add_column(c, justify="right" if c in ("runs", "steps", "tok/s", "cv") else "left")
    for r in rs.to_dict("records"):
      t.add_row(r["label"] or r["backend"], f"{r['n_runs']:.0f}", f"{r['n_steps']:.0f}", f"{r['tok_s_median']:,.1f}",
                bar(r["tok_s_median"], top, 20 if args.ascii else 30), interval(r["tok_s_ci95_low"], r["tok_s_ci95_high"]) or "no CI", f"{r['cv']:.1%}",
                ("[red]" if (r["noisy"] or r.get("imprecise")) and not args.ascii else "") + r["flags"])
    console.print(t)
  return 0

