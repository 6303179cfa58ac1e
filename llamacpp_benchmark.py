#!/usr/bin/env python3
"""Benchmark llama.cpp on GGUF models: per-step prefill and decode timings, one raw log per configuration in
benchmark_output/. Flags given several values (--quantize nf4 int8 --seed 1 2) run every combination."""
import sys
from inferbench.runner import main

if __name__ == "__main__": sys.exit(main("llamacpp", doc=__doc__))
