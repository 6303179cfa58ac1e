#!/usr/bin/env python3
"""Where does the harness lose time against llama-bench? One process drives llama.cpp's decode four ways, interleaved
with llama-bench itself over 8 rounds (the first 2 left out): 37 prompt tokens, then 128 decode steps of one token,
each a llama_decode and a wait for its token (llama.cpp's backend sampler picks it in the graph, greedy), with
llama-bench's context settings (n_ctx 256, n_batch 2048, n_ubatch 512, flash attention on, perf timers off):

  python loop        the steps from a bare ctypes loop
  C loop             the harness's loop (inferbench/backends/llamacpp_decode.c), one call per run
  C loop+threadpool  and the CPU threadpool llama-bench attaches to its context (else ggml makes one per graph)
  harness            the harness's engine as a benchmark runs it (LlamaCppEngine.generate, --ctx 1024, perf timers on)
  C process          the C loop+threadpool in a C program, a process per round (llamacpp_gap_main.c): Python's part
  llama-bench        llama-bench -n 128 -d 37 -r 1, a process per round (with --llama-bench PATH)

Decode tok/s = 128 / the steps' summed time (llama-bench's own figure for itself). Each variant's ratio to llama-bench
is of the medians over rounds, with a paired bootstrap interval over rounds (a round's variants ran side by side).

  python benchmarks/llamacpp_gap.py MODEL.gguf [--llama-bench PATH] [--threads N]   (every layer on the GPU if any)

On the H100 (1B-shape F16, 16 threads, 18 rounds, 2026-11-23; docs/results/h100-mlx/llamacpp_gap.txt): the harness
0.987 [0.957-1.008] of llama-bench, its loop from a C program 0.997 [0.965-1.011], the Python ctypes loop 0.981.
"""
import csv, ctypes, io, os, statistics, subprocess, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from inferbench.core import cli, stats
from inferbench.backends import llamacpp
from inferbench.core.config import RunConfig

N, DEPTH = 128, 37
lib = llamacpp.llama_lib()
c, how = llamacpp.c_helpers()

def context(model, threads: int, threadpool: bool):
  p = lib.llama_context_default_params()
  p.n_ctx, p.n_batch, p.n_ubatch, p.no_perf, p.n_threads, p.n_threads_batch = 256, 2048, 512, True, threads, threads
  p.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_ENABLED
  chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
  lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
  seqs = (lib.llama_sampler_seq_config * 1)(lib.llama_sampler_seq_config(0, ctypes.cast(chain, ctypes.c_void_p)))
  p.samplers, p.n_samplers = ctypes.cast(seqs, ctypes.POINTER(lib.llama_sampler_seq_config)), 1
  ctx = lib.llama_init_from_model(model, p)
  if threadpool: c.inferbench_attach_threadpool(ctx, threads)
  return ctx, (chain, seqs)  # the sampler chain must outlive the context

def prefill(ctx):
  lib.llama_memory_clear(lib.llama_get_memory(ctx), True)
  prompt = (ctypes.c_int32 * DEPTH)(*range(100, 100 + DEPTH))
  lib.llama_decode(ctx, lib.llama_batch_get_one(prompt, DEPTH))
  return lib.llama_get_sampled_token_ith(ctx, -1)

def python_loop(ctx) -> float:
  token, total = (ctypes.c_int32 * 1)(prefill(ctx)), 0.0
  for _ in range(N):
    t0 = time.perf_counter()
    lib.llama_decode(ctx, lib.llama_batch_get_one(token, 1))
    token[0] = lib.llama_get_sampled_token_ith(ctx, -1)
    total += time.perf_counter() - t0
  return N / total

def c_loop(ctx, batch) -> float:
  out, enqueue, total, failed = np.zeros(N, np.int32), np.zeros(N), np.zeros(N), ctypes.c_int32()
  assert c.inferbench_decode(ctx, batch, 1, np.array([prefill(ctx)], np.int32), DEPTH, N, out, enqueue, total, ctypes.byref(failed)) == 0
  return N / total.sum()

def harness(engine) -> float:
  return N / sum(s.total_s for s in list(engine.generate(list(range(100, 100 + DEPTH)), N))[1:])

def c_process(program: Path, model: Path, threads: int) -> float:
  return float(subprocess.run([str(program), str(model), str(threads)], capture_output=True, text=True, check=True).stdout)

def llama_bench(path: str, model: Path, threads: int) -> float:
  out = subprocess.run([path, "-m", str(model), "-n", str(N), "-d", str(DEPTH), "-p", "0", "-ngl", "99", "-fa", "1", "-t", str(threads),
                        "-r", "1", "-o", "csv"], capture_output=True, text=True, check=True).stdout
  return float(next(csv.DictReader(io.StringIO(out)))["avg_ts"])

def main():
  ap = cli.Parser(description=__doc__.splitlines()[0])
  ap.add_argument("model", type=Path)
  ap.add_argument("--llama-bench", help="a llama-bench built from the same sources (deps/build_llamacpp_cuda.sh build leaves one)")
  ap.add_argument("--threads", type=int, default=os.cpu_count())
  ap.add_argument("--rounds", type=int, default=8)
  a = ap.parse_args()
  if not c: sys.exit(f"error: the harness's C helpers are missing: {how}")
  model = llamacpp.load_model(a.model, n_gpu_layers=-1)
  batch = lib.llama_batch_init(1, 0, 1)
  bare, pooled = context(model, a.threads, False), context(model, a.threads, True)
  engine = llamacpp.load(RunConfig(device="cuda" if lib.llama_supports_gpu_offload() else "cpu", threads=a.threads, knobs={"flash_attn": True}), a.model)
  variants = {"python loop": lambda: python_loop(bare[0]), "C loop": lambda: c_loop(bare[0], batch),
              "C loop+threadpool": lambda: c_loop(pooled[0], batch), "harness": lambda: harness(engine)}
  program = llamacpp.compile_c(Path(__file__).with_name("llamacpp_gap_main.c"), "llamacpp_gap_main", shared=False)
  variants["C process"] = lambda: c_process(program, a.model, a.threads)
  if a.llama_bench: variants["llama-bench"] = lambda: llama_bench(a.llama_bench, a.model, a.threads)
  rates = {k: [] for k in variants}
  for r in range(a.rounds):
    for k, f in variants.items(): rates[k].append(f())
    print(f"round {r + 1}/{a.rounds}: " + "  ".join(f"{k} {v[-1]:.1f}" for k, v in rates.items()), file=sys.stderr, flush=True)
  ref = rates.get("llama-bench")
  print(f"{'decode loop':20s} {'tok/s':>8s} {'/ llama-bench [95% CI]':>24s}   rounds (tok/s; the first 2 left out)")
  for k, v in rates.items():
    ratio, lo, hi = stats.bootstrap_ratio(v[2:], ref[2:], paired=True) if ref else (float("nan"),) * 3
    print(f"{k:20s} {statistics.median(v[2:]):8.1f} {f'{ratio:.3f} [{lo:.3f}-{hi:.3f}]':>24s}   {', '.join(f'{x:.0f}' for x in v)}")

if __name__ == "__main__": main()
