#!/usr/bin/env python3
"""Does continuous batching pay? Aggregate throughput of three servers of the same GGUF, side by side in one run, at
each --concurrency: inferbench serve with batching (--max-batch, default: the concurrency), the same server at
--max-batch 1 (no batching), and llama-cpp-python's own server (one request at a time, --interrupt_requests false).

Each server is started in turn on a free 127.0.0.1 port, measured by the endpoint client (mlc_benchmark.py's
closed loop: --concurrency requests in flight, every request --n-tokens tokens after the first, EOS ignored) and
stopped; the order is alternated over --rounds. Throughput is collate's aggregate_tokens_per_sec: every request's
tokens over the time from the first request's start to the last one's end. A round is the sample: the ratios'
intervals are a bootstrap over rounds, paired (round r's servers ran one after the other).

What limits batching is read off the inter-token gap each sequence sees (median over requests of their mean gap):
with B sequences in one step, a step that costs no more than one sequence's would give B times the throughput;
"step cost" is the batched gap over the unbatched one, so speedup ~ B / step cost, the rest being prefill and ramp.

  python benchmarks/serving_batching.py --rounds 3                                     (this CPU: 135M Q8_0)
  python benchmarks/serving_batching.py --device cuda --size 1B --weights synthetic --quantize F16 \\
      --concurrency 8 32 --rounds 3                                                   (a GPU: the 1B shape)

Prints each round, then one table; the raw logs stay in -o, for mlc_collate.py."""
import argparse, os, statistics, sys
from pathlib import Path
from inferbench.core import cli
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

def servers(args: argparse.Namespace, model: Path, concurrency: int) -> dict[str, tuple[str, list[str]]]:
  """label -> (the name its logs carry, its command) for one concurrency."""
  batch = args.max_batch or concurrency
  gpu = args.device == "cuda"
  ours = [sys.executable, "-m", "inferbench.serving.server", "--model", str(model), "--threads", str(args.threads), "--ctx", "512",
          "--max-queue", str(4 * concurrency), "--batch-timeout-ms", str(args.batch_timeout_ms), "--device", args.device,
          *(["--flash-attn"] if args.flash_attn else [])]
  theirs = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--n_threads", str(args.threads), "--n_threads_batch", str(args.threads),
            "--n_ctx", "2048", "--interrupt_requests", "false", "--flash_attn", str(args.flash_attn).lower(), *(["--n_gpu_layers", "-1"] if gpu else [])]
  return {f"batching (max batch {batch})": ("inferbench_batched", [*ours, "--max-batch", str(batch)]),
          "no batching (max batch 1)": ("inferbench_unbatched", [*ours, "--max-batch", "1"]),
          "llama-cpp-python server": ("llamacpp_server", theirs)}

def main():
  p = cli.Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--size", default="135M")
  p.add_argument("--weights", choices=["real", "synthetic"], default="real", help="synthetic: seeded random weights of --size's architecture")
  p.add_argument("--quantize", default="Q8_0")
  p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="cuda: every layer on the GPU, in all three servers")
  p.add_argument("--flash-attn", action="store_true", help="llama.cpp's flash attention, in all three servers")
  p.add_argument("--concurrency", nargs="+", type=int, default=[8])
  p.add_argument("--max-batch", type=int, help="the batching server's --max-batch (default: the concurrency)")
  p.add_argument("--batch-timeout-ms", type=float, default=10.0)
  p.add_argument("--requests", type=int, help="measured requests per server and round (default: 4 x the concurrency)")
  p.add_argument("--n-tokens", type=int, default=64)
  # a core is left to the client, which runs on the same machine: llama.cpp's threads spin while they wait for each
  # other, so a server whose threads share cores with the client (or other jobs) slows down many times over
  p.add_argument("--threads", type=int, default=max(1, len(os.sched_getaffinity(0)) - 1), help="server threads (default: %(default)s)")
  p.add_argument("--rounds", type=int, default=3, help="alternate the three servers this many times")
  p.add_argument("-o", "--output-dir", type=Path, default=ROOT / "benchmark_output" / "serving_batching")
  args = p.parse_args()
  from inferbench.core import proc, stats
  from inferbench.models import prepare
  from inferbench.run import load
  from inferbench.store import collate
  from inferbench.store.rawlog import parse
  model = prepare.quantized(prepare.source_path(args.size, None, args.weights), args.quantize, args.threads)
  tok_s: dict[tuple[int, str], list[float]] = {}
  gap_ms: dict[tuple[int, str], list[float]] = {}
  for c in args.concurrency:
    plan = servers(args, model, c)
    for rnd in range(args.rounds):
      for label in (list(plan) if rnd % 2 == 0 else list(plan)[::-1]):  # neither end of the run favours one server
        name, cmd = plan[label]
        out = args.output_dir / f"c{c}" / f"round{rnd}"
        before = set(out.glob(f"{name}_*.txt"))
        with proc.launch(cmd, args.output_dir / f"{name}.server.log") as srv:
          rc = load.main(["--endpoint", srv.url, "--server-name", name, "--size", args.size, "--tokenizer", str(model), "--quantize", args.quantize,
                          "--device", args.device, "--concurrency", str(c), "--requests", str(args.requests or 4 * c), "--n-tokens", str(args.n_tokens),
                          "--warmup-requests", "2", "--request-timeout", "600", "-o", str(out)])
        written = set(out.glob(f"{name}_*.txt")) - before
        log = parse(written.pop()) if rc == 0 and len(written) == 1 else None
        if not (log and log.ok): sys.exit(f"{label}, concurrency {c}: {log.status if log else f'the client failed (exit {rc}), see above'}")
        tok_s.setdefault((c, label), []).append(collate.aggregate_tokens_per_sec(log))
        gap_ms.setdefault((c, label), []).append(statistics.median(r["itl_mean_ms"] for r in log.runs if r.get("itl_mean_ms") is not None))
        print(f"concurrency {c}, round {rnd + 1}, {label}: {tok_s[c, label][-1]:.1f} tok/s aggregate, "
              f"{gap_ms[c, label][-1]:.2f} ms between tokens", flush=True)
  rows = []
  for c in args.concurrency:
    labels = list(servers(args, model, c))
    batched, unbatched = labels[0], labels[1]
    for label in labels:
      ratio = stats.bootstrap_ratio(tok_s[c, batched], tok_s[c, label], paired=True) if label != batched else None
      rows.append({"concurrency": c, "server": label, "tok/s (median)": statistics.median(tok_s[c, label]),
                   "rounds": ", ".join(f"{x:.1f}" for x in tok_s[c, label]), "ms between tokens": statistics.median(gap_ms[c, label]),
                   "batched / this [95% CI]": "" if ratio is None else f"{ratio[0]:.2f}x" + (f" [{ratio[1]:.2f}-{ratio[2]:.2f}]" if ratio[1] == ratio[1] else " (no CI below 3 rounds)"),
                   "step cost": f"{statistics.median(gap_ms[c, label]) / statistics.median(gap_ms[c, unbatched]):.2f}" if label == batched else ""})
  print(f"\n{model.name} on {args.device}, {args.n_tokens + 1} tokens per request, {args.threads} server threads, {args.rounds} rounds, "
        "round-paired bootstrap:")
  print(stats.format_table(rows, list(rows[0])))

if __name__ == "__main__": main()
