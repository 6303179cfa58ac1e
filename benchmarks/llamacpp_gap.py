#!/usr/bin/env python3
"""How fast can Python drive llama.cpp at all? llama_decode of one token, then llama_synchronize (as llama-bench's
decode loop does), from a bare ctypes loop with llama-bench's own context settings (n_ctx 256, n_batch 2048,
n_ubatch 512, flash attention on, perf timers off), beside the harness's settings one at a time, interleaved over
8 rounds (the first 2 left out). Decode tok/s = 128 / the sum of the per-token times.

  python benchmarks/llamacpp_python_floor.py MODEL.gguf          (all layers on the GPU where llama.cpp has one)

On the H100 (1B-shape F16, 2026-11-23): 654.5 tok/s for the bare loop against llama-bench's 684-701 on the same
machine; the harness's settings 664.8; reading the logits and taking numpy's argmax 608.9, what llama.cpp's backend
sampler avoids. The harness is at the bare loop's speed: the rest of the gap to llama-bench is Python's."""
import ctypes, statistics, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from inferbench.backends.llamacpp import llama_lib, load_model

lib = llama_lib()

def context(model, n_ctx=256, n_batch=2048, n_ubatch=512, no_perf=True, sampler=False, threads=16):
  p = lib.llama_context_default_params()
  p.n_ctx, p.n_batch, p.n_ubatch, p.no_perf, p.n_threads, p.n_threads_batch = n_ctx, n_batch, n_ubatch, no_perf, threads, threads
  p.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_ENABLED
  keep = []  # the sampler chain must outlive the context
  if sampler:
    chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
    lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
    seqs = (lib.llama_sampler_seq_config * 1)(lib.llama_sampler_seq_config(0, ctypes.cast(chain, ctypes.c_void_p)))
    p.samplers, p.n_samplers = ctypes.cast(seqs, ctypes.POINTER(lib.llama_sampler_seq_config)), 1
    keep += [chain, seqs]
  return lib.llama_init_from_model(model, p), keep

def decode_tok_s(ctx, read: str, n_vocab: int) -> float:
  lib.llama_memory_clear(lib.llama_get_memory(ctx), True)
  prompt = (ctypes.c_int32 * 37)(*range(100, 137))
  lib.llama_decode(ctx, lib.llama_batch_get_one(prompt, 37))
  lib.llama_synchronize(ctx)
  token, total = (ctypes.c_int32 * 1)(200), 0.0
  for _ in range(128):
    t0 = time.perf_counter()
    lib.llama_decode(ctx, lib.llama_batch_get_one(token, 1))
    if read == "sync": lib.llama_synchronize(ctx)
    elif read == "logits": np.argmax(np.ctypeslib.as_array(lib.llama_get_logits_ith(ctx, -1), shape=(n_vocab,)))
    else: lib.llama_get_sampled_token_ith(ctx, -1)
    total += time.perf_counter() - t0
  return 128 / total

def main():
  model = load_model(sys.argv[1], n_gpu_layers=-1)
  n_vocab = lib.llama_vocab_n_tokens(lib.llama_model_get_vocab(model))
  variants = {"llama-bench's settings, sync": ({}, "sync"), "  + logits read, numpy argmax": ({}, "logits"),
              "  + perf timers on": ({"no_perf": False}, "sync"), "  + n_ctx 1024, n_batch 1024": ({"n_ctx": 1024, "n_batch": 1024}, "sync"),
              "  + backend sampler": ({"sampler": True}, "sampled"),
              "the harness's settings": ({"n_ctx": 1024, "n_batch": 1024, "no_perf": False, "sampler": True}, "sampled")}
  contexts = {k: context(model, **kw) for k, (kw, _) in variants.items()}
  rates = {k: [] for k in variants}
  for _ in range(8):
    for k, (_, read) in variants.items(): rates[k].append(decode_tok_s(contexts[k][0], read, n_vocab))
  for k, v in rates.items(): print(f"{k:32s} {statistics.median(v[2:]):7.1f} tok/s   rounds: {', '.join(f'{x:.0f}' for x in v)}")

if __name__ == "__main__": main()
