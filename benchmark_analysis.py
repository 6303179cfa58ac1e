#!/usr/bin/env python3
"""Statistics per configuration (backend, device, host, size, quantize; seeds pooled unless --split-seeds), decode and
prefill apart, from every collated CSV in benchmark_output/: per-token latency (count, mean, std, 95% CI, median, p90,
p99), tok/s, coefficient of variation with a noisy flag, memory and parameter throughput, and for llama.cpp the
harness/internal timer ratio. Writes benchmark_output/summary.csv and prints a table.
The same as `inferbench analyze`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["analyze", *sys.argv[1:]]))
