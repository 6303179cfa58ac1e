#!/usr/bin/env python3
"""Compare inferbench's PyTorch harness (--torch-mode compile) with transformers' own generate() on one GGUF, side by
side in one run.

generate() is set up as transformers' documentation recommends for speed: the static cache
(generation_config.cache_implementation = "static"), with which generate() compiles its decode step itself on CUDA
(mode="reduce-overhead"); on the CPU, where it does not, model.forward = torch.compile(model.forward, fullgraph=True)
in inductor's default mode, as the harness compiles there. (Compiling model.forward with reduce-overhead by hand, as
older documentation shows, failed on the H200 with transformers 5.17: a CUDA graph's output overwritten.) Greedy, exactly max_new_tokens = N + 1 new tokens (EOS ignored through
min_new_tokens). Both sides get the same file loaded the same way (backends/pytorch.read_gguf), the same dtype and
device, the same prompt ids, and make N + 1 tokens: the prefill's and N decode steps'. generate() cannot time its
steps apart, so both are timed whole, tokens / wall time from the call to the last token on the host.

Each side runs in a fresh process, the two alternating (harness, generate, harness, ...), each process compiling,
warming up once and then timing --runs runs. The ratio is harness over generate, medians of the runs, with a
bootstrap 95% interval over the runs (stats.bootstrap_ratio)."""
import json, subprocess, sys
from pathlib import Path
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SETUP = """
import json, sys, time
from pathlib import Path
from inferbench.backends import pytorch
from inferbench.core.config import RunConfig
a = json.loads(sys.argv[1])
torch = pytorch.core()
torch.set_num_threads(a["threads"])
torch.set_grad_enabled(False)
def sync():
  if a["device"] == "cuda": torch.cuda.synchronize()
"""

THEIRS = SETUP + """
model = pytorch.read_gguf(Path(a["model"]), a["dtype"], "sdpa", a["device"])
model.generation_config.cache_implementation = "static"
if a["device"] == "cpu":  # on CUDA generate() compiles its decode step itself (reduce-overhead); on the CPU it would not
  model.forward = torch.compile(model.forward, mode="default", fullgraph=True)
ids = torch.tensor([a["ids"]], device=a["device"])
def once() -> float:
  sync()
  t0 = time.perf_counter()
  out = model.generate(ids, max_new_tokens=a["n"] + 1, min_new_tokens=a["n"] + 1, do_sample=False, pad_token_id=0)
  out.tolist()
  return (out.shape[1] - ids.shape[1]) / (time.perf_counter() - t0)
"""

OURS = SETUP + """
engine = pytorch.load(RunConfig(backend="torch", ctx=a["ctx"], device=a["device"], threads=a["threads"], prompt_ids=a["ids"],
                                knobs={"torch_mode": "compile", "dtype": a["dtype"]}), Path(a["model"]))
def once() -> float:
  sync()
  t0 = time.perf_counter()
  steps = list(engine.generate(a["ids"], a["n"]))
  return len(steps) / (time.perf_counter() - t0)
"""

RUN = """
for _ in range(2): once()  # compile (the harness compiled at load) and warm up
print(json.dumps([once() for _ in range(a["runs"])]))
"""

def main():
  from inferbench.core import cli, registry
  p = cli.Parser(description=__doc__)
  p.add_argument("--model", help="a GGUF (default: the embedded 135M model at F16)")
  p.add_argument("--n-tokens", type=cli.whole(1), default=64, help="decode steps per run (each side makes one token more: the prefill's)")
  p.add_argument("--runs", type=cli.whole(1), default=5, help="timed runs per process, after the compile and a warm-up run")
  p.add_argument("--rounds", type=cli.whole(1), default=3, help="fresh processes per side, alternating")
  p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
  p.add_argument("--dtype", default="", help="default: float32 on the CPU, float16 on CUDA")
  p.add_argument("--threads", type=cli.whole(1), default=registry.DEFAULT_THREADS)
  args = p.parse_args()
  import llama_cpp.llama_cpp  # noqa: F401  libllama before numpy: see backends/llamacpp.py
  from inferbench.core import stats
  from inferbench.models import prepare
  source = prepare.source_path(registry.DEFAULT_SIZE)
  model = Path(args.model) if args.model else prepare.quantized(source, "F16")
  ids = prepare.prompt_ids(source, registry.DEFAULT_PROMPT, None)  # the harness's default prompt, as the runner tokenizes it
  a = {"model": str(model), "ids": ids, "n": args.n_tokens, "ctx": len(ids) + args.n_tokens + 8, "runs": args.runs, "device": args.device,
       "dtype": args.dtype or ("float16" if args.device == "cuda" else "float32"), "threads": args.threads}
  sides = {"inferbench harness (compile)": OURS, "transformers generate() (static, compiled)": THEIRS}
  runs: dict[str, list[float]] = {k: [] for k in sides}
  for r in range(args.rounds):
    for who, code in sides.items():
      out = subprocess.run([sys.executable, "-c", code + RUN, json.dumps(a)], capture_output=True, text=True, cwd=ROOT)
      if out.returncode: sys.exit(f"{who} failed: {(out.stderr.strip().splitlines() or ['no output'])[-1]}")
      runs[who] += json.loads(out.stdout.strip().splitlines()[-1])
      print(f"round {r + 1}/{args.rounds} {who}: {' '.join(f'{x:.2f}' for x in runs[who][-args.runs:])} tok/s", file=sys.stderr, flush=True)
  ours, theirs = runs.values()
  ratio, lo, hi = stats.bootstrap_ratio(ours, theirs)
  print(f"model {model.name}, {len(ids)}-token prompt + {args.n_tokens} decode steps, {a['dtype']} on {args.device}, {args.threads} threads; "
        f"tok/s = {args.n_tokens + 1} tokens / wall time, {args.rounds} x {args.runs} runs a side in alternating fresh processes:")
  rows = [{"side": who, "median tok/s": f"{stats.np.median(x):.2f}", "runs": len(x), "min": f"{min(x):.2f}", "max": f"{max(x):.2f}"} for who, x in runs.items()]
  print(stats.format_table(rows, ["side", "median tok/s", "runs", "min", "max"]))
  print(f"harness / generate(): {ratio:.3f} [95% bootstrap CI {lo:.3f}-{hi:.3f}]")

if __name__ == "__main__": main()
