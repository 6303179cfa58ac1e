#!/usr/bin/env python3
"""Compare inferbench's tinygrad harness with tinygrad's own `python -m tinygrad.llm --benchmark` on one model.

tinygrad's CLI builds its tokenizer before benchmarking and rejects some pre-tokenizers (SmolLM2's `smollm`);
the tokenizer only prints text there, so this relabels an unsupported pre-tokenizer as `llama-bpe` and runs the
CLI's own benchmark loop unchanged. Both then decode from the same one-token prompt; prints both medians."""
import argparse, os, re, statistics, subprocess, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REFERENCE = """
import sys, tinygrad.llm.model as m, tinygrad.llm.cli as cli
load = m.Transformer.from_gguf
def from_gguf(*a, **k):
  model, kv = load(*a, **k)
  if kv.get("tokenizer.ggml.pre") not in ("llama3", "llama-v3", "llama-bpe", "qwen2", "olmo", "kimi-k2", "tekken", "glm4"):
    kv["tokenizer.ggml.pre"] = "llama-bpe"
  return model, kv
cli.Transformer.from_gguf = staticmethod(from_gguf)
sys.argv = ["tinygrad.llm", "--model", sys.argv[1], "--max_context", sys.argv[2], "--benchmark", sys.argv[3]]
cli.main()
"""

def main():
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--model", help="GGUF path (default: the embedded 135M model)")
  p.add_argument("--steps", type=int, default=20)
  p.add_argument("--ctx", type=int, default=256)
  p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
  args = p.parse_args()
  from inferbench import models
  from inferbench.backends import tinygrad as tg
  from inferbench.backends.base import BackendConfig
  model = Path(args.model) if args.model else models.source_path("135M")
  cfg = BackendConfig(model=model, threads=args.threads, ctx=args.ctx)
  env = {**os.environ, **tg.environment(cfg)}
  out = subprocess.run([sys.executable, "-c", REFERENCE, str(model), str(args.ctx), str(args.steps)],
                       env=env, capture_output=True, text=True)
  if out.returncode: sys.exit(f"tinygrad's benchmark failed: {out.stderr.strip().splitlines()[-1:]}")
  # its lines read "... ms, 12.34 tok/s, ..."; the first steps compile the JIT, so compare the second half
  theirs = [float(x) for x in re.findall(r"([\d.]+) tok/s", out.stdout)][args.steps // 2:]
  os.environ.update(tg.environment(cfg))
  engine = tg.load(cfg)
  ours = [1 / s.total_s for s in list(engine.generate([0], args.steps))[1:]][args.steps // 2:]
  print(f"model {model.name}, {args.threads} threads, median decode tok/s over the last {len(ours)} steps:")
  print(f"  tinygrad --benchmark  {statistics.median(theirs):8.2f}")
  print(f"  inferbench harness    {statistics.median(ours):8.2f}  ({statistics.median(ours) / statistics.median(theirs):.3f}x)")

if __name__ == "__main__": main()
