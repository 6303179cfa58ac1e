#!/usr/bin/env python3
"""Benchmark MLC-LLM in-process (--size --quantize, where MLC's wheels are installed), or any OpenAI-compatible
server (--endpoint URL: inferbench serve, mlc_llm serve, llama.cpp's servers, tinygrad.llm --serve, vLLM):
time to first token, every inter-token gap and batch throughput at each --concurrency (closed loop) or --request-rate
(open loop, seeded Poisson arrivals; goodput against --slo-ttft-ms and --slo-itl-ms), one raw log per configuration
in benchmark_output/.
The same as `inferbench load`."""
import sys
from inferbench.commands import main

if __name__ == "__main__": sys.exit(main(["load", *sys.argv[1:]]))
