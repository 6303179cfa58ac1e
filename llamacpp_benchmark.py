#!/usr/bin/env python3
"""Benchmark llama.cpp on GGUF models: per-step prefill and decode timings, one raw log per configuration in
benchmark_output/. Flags given several values (--quantize nf4 int8 --seed 1 2) run every combination.
The same as `inferbench bench llamacpp`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["bench", "llamacpp", *sys.argv[1:]]))
