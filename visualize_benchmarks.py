#!/usr/bin/env python3
"""Terminal view of benchmark_output/summary.csv (run benchmark_analysis.py first): per phase, each configuration's
median tok/s as a bar, with the 95% CI of the mean per-token latency, runs, samples and instability flags."""
import argparse, math, sys
from pathlib import Path
from inferbench.analysis import PHASES, AnalysisError, read_summary

def bar(value: float, top: float, width: int = 30) -> str:
  n = 0 if not top or math.isnan(value) else value / top * width
  return "█" * int(n) + " ▏▎▍▌▋▊▉"[int((n - int(n)) * 8)].strip()

def main() -> int:
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("-i", "--input", type=Path, default=Path("benchmark_output/summary.csv"))
  p.add_argument("--ascii", action="store_true", help="plain text, no colours or box drawing (for logs)")
  args = p.parse_args()
  try: rows = read_summary(args.input)
  except AnalysisError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  from rich.console import Console
  from rich.table import Table
  from rich import box
  console = Console(no_color=args.ascii, highlight=False)
  for phase in PHASES:
    rs = [r for r in rows if r["phase"] == phase]
    if not rs:
      console.print(f"{phase}: no data")
      continue
    top = max(r["tok_s_median"] for r in rs)
    t = Table(title=f"{phase}: median tok/s per configuration ({'1 token per step' if phase == 'decode' else 'whole prompt per step'})",
              box=box.ASCII if args.ascii else box.SIMPLE_HEAD, title_justify="left")
    for c in ("backend", "device", "host", "size", "quantize", "weights", "runs", "n", "tok/s p50", "", "ms/tok mean [95% CI]", "cv", "flags"):
      t.add_column(c, justify="right" if c in ("runs", "n", "tok/s p50", "cv") else "left")
    for r in rs:
      label = r["backend"] + (f" {r['variant']}" if r["variant"] else "")
      t.add_row(label, r["device"], r["hostname"], r["size"], r["quantize"], r["weights"], f"{r['n_runs']:.0f}", f"{r['count']:.0f}",
                f"{r['tok_s_median']:,.1f}", bar(r["tok_s_median"], top, 20 if args.ascii else 30),
                f"{r['latency_ms_mean']:.4g} [{r['latency_ms_ci95_low']:.4g}, {r['latency_ms_ci95_high']:.4g}]",
                f"{r['cv']:.1%}", ("[red]" if r["noisy"] and not args.ascii else "") + r["flags"])
    console.print(t)
  return 0

if __name__ == "__main__": sys.exit(main())
