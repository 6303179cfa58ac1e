#!/usr/bin/env python3
"""Collate benchmark_output/llamacpp_*.txt raw logs into benchmark_output/llamacpp.csv (idempotent, atomic).
The same as `inferbench collate llamacpp`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["collate", "llamacpp", *sys.argv[1:]]))
