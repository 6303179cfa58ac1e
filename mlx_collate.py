#!/usr/bin/env python3
"""Collate benchmark_output/mlx_*.txt raw logs into benchmark_output/mlx.csv (idempotent, atomic)."""
import sys
from inferbench.collate import main

if __name__ == "__main__": sys.exit(main("mlx"))
