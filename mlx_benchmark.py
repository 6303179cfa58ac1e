#!/usr/bin/env python3
"""Benchmark MLX (through mlx-lm) on the GGUF files the other backends read, or on MLX's own quantization
(--quantize mlx-q4 mlx-q8 mlx-q4-g32): per-step prefill and decode timings, one raw log per configuration in
benchmark_output/. Flags given several values (--quantize default float16 --seed 1 2) run every combination.
The same as `inferbench bench mlx`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["bench", "mlx", *sys.argv[1:]]))
