#!/usr/bin/env python3
"""Collate benchmark_output/torch_*.txt raw logs into benchmark_output/torch.csv (idempotent, atomic).
The same as `inferbench collate torch`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["collate", "torch", *sys.argv[1:]]))
