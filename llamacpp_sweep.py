#!/usr/bin/env python3
"""Quantization sweep: make each GGUF quantization of one model with llama.cpp's quantizer, then measure its decode
and prefill speed (the regular benchmark), its quality against F16 (perplexity, KL divergence, top-1 agreement, from
llama.cpp logits) and its task accuracy through lm-eval on seeded local tasks, paired against F16, into
benchmark_output/sweep_{size}.csv and plots/quantization_pareto.png. Resumes where an interrupted sweep stopped.
The same as `inferbench sweep`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["sweep", *sys.argv[1:]]))
