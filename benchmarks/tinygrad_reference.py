#!/usr/bin/env python3
"""Compare inferbench's tinygrad harness with tinygrad's own `python -m tinygrad.llm --benchmark` on one model.

tinygrad's CLI builds its tokenizer before benchmarking and rejects some pre-tokenizers (SmolLM2's `smollm`);
the tokenizer only prints text there, so this relabels an unsupported pre-tokenizer as `llama-bpe` and runs the
CLI's own benchmark loop unchanged. Both then decode from the same one-token prompt; prints both medians."""
import os, re, statistics, subprocess, sys
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

OURS = """
import sys
from pathlib import Path
from inferbench.backends import tinygrad as tg
from inferbench.core.config import RunConfig
engine = tg.load(RunConfig(ctx=int(sys.argv[2]), threads=int(sys.argv[4])), Path(sys.argv[1]))
print(*(1 / s.total_s for s in list(engine.generate([0], int(sys.argv[3])))[1:]))
"""

def main():
  from inferbench.core import cli
  p = cli.Parser(description=__doc__)
  p.add_argument("--model", help="GGUF path (default: the embedded 135M model)")
  p.add_argument("--steps", type=int, default=20)
  p.add_argument("--ctx", type=int, default=256)
  p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
  p.add_argument("--rounds", type=int, default=1, help="alternate the two this many times")
  args = p.parse_args()
  from inferbench.models import prepare
  from inferbench.backends import tinygrad as tg
  from inferbench.core.config import RunConfig
  model = Path(args.model) if args.model else prepare.source_path("135M")
  cfg = RunConfig(threads=args.threads, ctx=args.ctx)
  env = {**os.environ, **tg.environment(cfg)}
  def theirs() -> list[float]:
    out = subprocess.run([sys.executable, "-c", REFERENCE, str(model), str(args.ctx), str(args.steps)],
                         env=env, capture_output=True, text=True)
    if out.returncode: sys.exit(f"tinygrad's benchmark failed: {out.stderr.strip().splitlines()[-1:]}")
    # its lines read "... ms, 12.34 tok/s, ..."; the first steps compile the JIT, so compare the second half
    return [float(x) for x in re.findall(r"([\d.]+) tok/s", out.stdout)][args.steps // 2:]
  def ours() -> list[float]:
    out = subprocess.run([sys.executable, "-c", OURS, str(model), str(args.ctx), str(args.steps), str(args.threads)],
                         env=env, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    if out.returncode: sys.exit(f"inferbench's harness failed: {out.stderr.strip().splitlines()[-1:]}")
    return [float(x) for x in out.stdout.split()][args.steps // 2:]
  # each in a fresh process, alternating, so neither gets a warmer machine
  runs = {"tinygrad --benchmark": [], "inferbench harness": []}
  for _ in range(args.rounds):
    runs["inferbench harness"] += ours()
    runs["tinygrad --benchmark"] += theirs()
  theirs, ours = runs["tinygrad --benchmark"], runs["inferbench harness"]
  print(f"model {model.name}, {args.threads} threads, median decode tok/s over the last {args.steps // 2} steps of {args.rounds} round(s):")
  print(f"  tinygrad --benchmark  {statistics.median(theirs):8.2f}")
  print(f"  inferbench harness    {statistics.median(ours):8.2f}  ({statistics.median(ours) / statistics.median(theirs):.3f}x)")

if __name__ == "__main__": main()
