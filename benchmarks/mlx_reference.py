#!/usr/bin/env python3
"""Compare inferbench's MLX harness with mlx-lm's own generation loop on one model, side by side in one run.

mlx-lm's loop is `mlx_lm.generate.generate_step`, the loop under `stream_generate` and `mlx_lm.benchmark`, called
unchanged (stream_generate adds text detokenizing, which needs a Hugging Face tokenizer that a GGUF does not carry).
Both get the same mlx-lm model object (inferbench's GGUF loader), the same dtype, the same prompt ids and token
count. Decode tok/s = decode tokens / time from the first token to the last, for both; mlx-lm's own
generation_tps also counts the first token, which would flatter it by one token. Each side runs in a fresh process,
alternating, so neither gets a warmer machine; prints the medians over all runs and the ratio."""
import statistics, subprocess, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SETUP = """
import sys, time
from pathlib import Path
from inferbench.backends import mlx
from inferbench.core.config import RunConfig
model, n, runs, dtype, pipeline = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5] == "on"
ids = [int(x) for x in sys.argv[6].split(",")]
engine = mlx.load(RunConfig(ctx=len(ids) + n + 8, knobs={"dtype": dtype, "pipeline": pipeline}), model)
mx = engine.mx
"""

THEIRS = SETUP + """
from mlx_lm.generate import generate_step
from mlx_lm.sample_utils import make_sampler
def once() -> float:
  stamps = [time.perf_counter() for _ in generate_step(mx.array(ids), engine.model, max_tokens=n + 1, sampler=make_sampler(0.0))]
  return n / (stamps[-1] - stamps[0])
once()  # warm-up
print(*(once() for _ in range(runs)))
"""

OURS = SETUP + """
def once() -> float: return n / sum(s.total_s for s in list(engine.generate(ids, n))[1:])
once()  # warm-up
print(*(once() for _ in range(runs)))
"""

def main():
  from inferbench.core import cli
  p = cli.Parser(description=__doc__)
  p.add_argument("--model", help="GGUF or mlx-lm model.safetensors (default: the embedded 135M model, Q4_1)")
  p.add_argument("--n-tokens", type=int, default=32, help="decode steps per run")
  p.add_argument("--runs", type=int, default=3, help="measured runs per process, after one warm-up")
  p.add_argument("--rounds", type=int, default=2, help="alternate the two this many times")
  p.add_argument("--dtype", default="float32", help="compute dtype, for both")
  p.add_argument("--pipeline", choices=["on", "off"], default="on", help="the harness's mode (on: as generate_step)")
  args = p.parse_args()
  import llama_cpp.llama_cpp  # noqa: F401  libllama before numpy: see backends/llamacpp.py
  from inferbench.models import prepare
  from inferbench.core import registry
  source = prepare.source_path(registry.DEFAULT_SIZE)
  model = Path(args.model) if args.model else source
  ids = prepare.prompt_ids(source, registry.DEFAULT_PROMPT, None)  # the harness's default prompt, as the runner tokenizes it
  def run(code: str, who: str) -> list[float]:
    out = subprocess.run([sys.executable, "-c", code, str(model), str(args.n_tokens), str(args.runs), args.dtype, args.pipeline,
                          ",".join(map(str, ids))], capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    if out.returncode: sys.exit(f"{who} failed: {out.stderr.strip().splitlines()[-1:]}")
    return [float(x) for x in out.stdout.split()]
  runs = {"mlx-lm generate_step": [], "inferbench harness": []}
  for _ in range(args.rounds):
    runs["inferbench harness"] += run(OURS, "inferbench's harness")
    runs["mlx-lm generate_step"] += run(THEIRS, "mlx-lm's generate_step")
  theirs, ours = statistics.median(runs["mlx-lm generate_step"]), statistics.median(runs["inferbench harness"])
  print(f"model {model.name}, {len(ids)}-token prompt, {args.n_tokens} decode steps, {args.dtype}, harness pipeline {args.pipeline}; "
        f"median decode tok/s over {args.rounds} x {args.runs} runs each, alternating fresh processes:")
  print(f"  mlx-lm generate_step  {theirs:8.2f}  {' '.join(f'{x:.2f}' for x in runs['mlx-lm generate_step'])}")
  print(f"  inferbench harness    {ours:8.2f}  {' '.join(f'{x:.2f}' for x in runs['inferbench harness'])}  ({ours / theirs:.3f}x)")

if __name__ == "__main__": main()
