#!/usr/bin/env python3
"""Collate benchmark_output/tinygrad_*.txt raw logs into benchmark_output/tinygrad.csv (idempotent, atomic)."""
import sys
from inferbench.collate import main

if __name__ == "__main__": sys.exit(main("tinygrad"))
