#!/usr/bin/env python3
"""Find, per batch size, the largest context that runs under a memory limit (doubling, then bisecting to 5%), and
compare it with the prediction (weights + KV cache + compute buffers): limits.csv, limits.png and every probe's log.
The same as `inferbench limits`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["limits", *sys.argv[1:]]))
