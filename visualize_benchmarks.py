#!/usr/bin/env python3
"""Terminal view of benchmark_output/summary.csv (run benchmark_analysis.py first): per phase, each configuration's
median tok/s over runs as a bar, with its 95% t-interval over runs, the runs, the steps and instability flags.
The same as `inferbench view`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["view", *sys.argv[1:]]))
