#!/usr/bin/env python3
"""Collate benchmark_output/mlx_*.txt raw logs into benchmark_output/mlx.csv (idempotent, atomic).
The same as `inferbench collate mlx`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["collate", "mlx", *sys.argv[1:]]))
