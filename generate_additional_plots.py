#!/usr/bin/env python3
"""The four supplementary plots from every collated CSV in benchmark_output/: plots/latency_distribution.png,
plots/memory_throughput.png (with the host's measured memory bandwidth as the roofline when the CSVs carry it),
plots/param_throughput.png and plots/device_comparison.png. Decode and prefill apart; the same CSVs give the same PNGs.
The same as `inferbench plot additional`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["plot", "additional", *sys.argv[1:]]))
