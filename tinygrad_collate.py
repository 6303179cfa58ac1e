#!/usr/bin/env python3
"""Collate benchmark_output/tinygrad_*.txt raw logs into benchmark_output/tinygrad.csv (idempotent, atomic).
The same as `inferbench collate tinygrad`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["collate", "tinygrad", *sys.argv[1:]]))
