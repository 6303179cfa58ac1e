#!/usr/bin/env python3
"""Collate benchmark_output/llamacpp_*.txt raw logs into benchmark_output/llamacpp.csv (idempotent, atomic)."""
import sys
from inferbench.collate import main

if __name__ == "__main__": sys.exit(main("llamacpp"))
