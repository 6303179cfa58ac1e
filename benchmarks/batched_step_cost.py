#!/usr/bin/env python3
"""What does one batched decode step cost llama.cpp itself? The part of batching's limit that is not the server's.

For each setting (flash attention off/on x KV cache per sequence / unified) and each number of sequences N, one
context holds N sequences, each prefilled with its own 37-token prompt; then --steps decode steps each give every
sequence one token in one llama_decode, as inferbench serve's scheduler does (inferbench/serving/batching.py). A
step is timed to llama_synchronize; the greedy pick (numpy argmax over each sequence's logits, as the server's
sampler) is timed apart. The median step after the first 8 is printed.

A step of N sequences that costs s times one sequence's caps batching's throughput gain at N / s; the server's
"step cost" (benchmarks/serving_batching.py) over this one is the scheduler's own share.

  python benchmarks/batched_step_cost.py --size 1B --weights synthetic --device cuda      (every layer on the GPU)

On the H200 (1B-shape F16, 2026-12-03; docs/results/h200-serving/step_cost.txt): 1.35 ms for one sequence and
2.24 ms for 8 with flash attention on; with it off and a KV cache per sequence, 1.53 and 3.70 ms."""
import argparse, statistics, sys, time
from importlib.metadata import version
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from inferbench.core import cli, metadata, stats

PROMPT, CTX_PER_SEQ, SKIPPED = 37, 512, 8

def step_ms(lib, model, n_vocab: int, n_seq: int, flash_attn: bool, unified: bool, steps: int, threads: int) -> tuple[float, float]:
  """(median ms of a decode step of n_seq sequences, median ms of their greedy picks)."""
  p = lib.llama_context_default_params()
  p.n_seq_max, p.kv_unified, p.n_ctx = n_seq, unified, CTX_PER_SEQ * n_seq
  p.n_batch = p.n_ubatch = CTX_PER_SEQ + n_seq
  p.n_threads = p.n_threads_batch = threads
  p.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn else lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
  ctx = lib.llama_init_from_model(model, p)
  if not ctx: sys.exit(f"llama.cpp could not make a context of {n_seq} x {CTX_PER_SEQ} tokens")
  b = lib.llama_batch_init(CTX_PER_SEQ + n_seq, 0, 1)
  try:
    for s in range(n_seq):  # a prompt per llama_decode, each its own tokens
      for i in range(PROMPT): b.token[i], b.pos[i], b.n_seq_id[i], b.seq_id[i][0], b.logits[i] = (7 * i + s) % 1000 + 10, i, 1, s, i == PROMPT - 1
      b.n_tokens = PROMPT
      if lib.llama_decode(ctx, b): sys.exit(f"llama_decode failed on prompt {s}")
    decode, pick = [], []
    for step in range(steps + SKIPPED):
      for s in range(n_seq): b.token[s], b.pos[s], b.n_seq_id[s], b.seq_id[s][0], b.logits[s] = 100 + s, PROMPT + step, 1, s, True
      b.n_tokens = n_seq
      t0 = time.perf_counter()
      if lib.llama_decode(ctx, b): sys.exit(f"llama_decode failed at step {step}")
      lib.llama_synchronize(ctx)
      t1 = time.perf_counter()
      for s in range(n_seq): np.ctypeslib.as_array(lib.llama_get_logits_ith(ctx, s), (n_vocab,)).argmax()
      decode.append(t1 - t0); pick.append(time.perf_counter() - t1)
    return statistics.median(decode[SKIPPED:]) * 1e3, statistics.median(pick[SKIPPED:]) * 1e3
  finally:
    lib.llama_batch_free(b); lib.llama_free(ctx)

def main():
  p = cli.Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--size", default="135M")
  p.add_argument("--weights", choices=["real", "synthetic"], default="real")
  p.add_argument("--quantize", default="F16")
  p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
  p.add_argument("--sequences", nargs="+", type=int, default=[1, 8, 32])
  p.add_argument("--steps", type=int, default=64, help="timed steps per setting, after 8 untimed")
  p.add_argument("--threads", type=int, default=4)
  args = p.parse_args()
  from inferbench.backends.llamacpp import llama_lib, load_model, offloaded_layers
  from inferbench.core import registry
  from inferbench.models import prepare
  path = prepare.quantized(prepare.source_path(args.size, None, args.weights), args.quantize, args.threads)
  lib = llama_lib()
  model = load_model(path, n_gpu_layers=offloaded_layers(args.device))
  n_vocab = registry.MODELS[args.size].arch.vocab_size
  rows = []
  for fa in (False, True):
    for unified in (False, True):
      one = None
      for n in args.sequences:
        ms, pick = step_ms(lib, model, n_vocab, n, fa, unified, args.steps, args.threads)
        one = ms if n == 1 else one
        rows.append({"flash attention": "on" if fa else "off", "KV cache": "unified" if unified else "per sequence", "sequences": n,
                     "ms per step": ms, "ms per pick": pick, "x one sequence's": ms / one if one else None,
                     "gain cap (N / x)": n / (ms / one) if one else None})
        print(f"  {rows[-1]['flash attention']:3s} {rows[-1]['KV cache']:12s} {n:3d} sequences: {ms:.3f} ms per step", flush=True)
  print(f"\n{path.name} on {metadata.device_name(args.device)}, llama-cpp-python {version('llama_cpp_python')}, "
        f"{args.steps} steps, median:")
  print(stats.format_table(rows, list(rows[0])))

if __name__ == "__main__": main()
