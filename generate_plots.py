#!/usr/bin/env python3
"""The four main plots from every collated CSV in benchmark_output/: plots/backend_comparison.png,
plots/speedup_comparison.png (against --baseline, tinygrad by default), plots/summary_stats.png and
plots/quantization_impact.png. Decode and prefill apart; the same CSVs give the same PNGs.
The same as `inferbench plot main`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["plot", "main", *sys.argv[1:]]))
