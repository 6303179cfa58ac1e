#!/usr/bin/env python3
"""Collate benchmark_output/ serving logs: MLC-LLM's into benchmark_output/mlc_llm.csv, every other server's into
benchmark_output/{server}.csv (same schema and parser as every backend; idempotent, atomic).
The same as `inferbench collate serving`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["collate", "serving", *sys.argv[1:]]))
