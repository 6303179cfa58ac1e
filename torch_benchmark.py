#!/usr/bin/env python3
"""Benchmark PyTorch (transformers' model code) on the GGUF files the other backends read, dequantized to --dtype, or
on torchao's weight-only quantization (--quantize torchao-int8 torchao-int4), eager or compiled (--torch-mode eager
compile): per-step prefill and decode timings, one raw log per configuration in benchmark_output/. Flags given several
values (--torch-mode eager compile --seed 1 2) run every combination. The same as `inferbench bench torch`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["bench", "torch", *sys.argv[1:]]))
