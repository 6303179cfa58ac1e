#!/usr/bin/env python3
"""Find, per batch size, the largest context that runs under a memory limit (doubling, then bisecting to 5%), and
compare it with the boundary predicted by the physical memory model (overhead + weights + KV cache + buffers growing
with context and batch) of what the limit counts, fitted on the probes that ran: limits.csv, limits.png and every
probe's log.
The same as `inferbench limits`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["limits", *sys.argv[1:]]))
