#!/usr/bin/env python3
"""Collate benchmark_output/ serving logs: MLC-LLM's into benchmark_output/mlc_llm.csv, every other server's into
benchmark_output/{server}.csv (same schema and parser as every backend; idempotent, atomic)."""
import sys
from inferbench.serving import collate_main

if __name__ == "__main__": sys.exit(collate_main())
