#!/usr/bin/env python3
"""Does continuous batching pay? Aggregate throughput at one concurrency of three servers of the same GGUF, side by
side in one run: inferbench serve with batching (--max-batch B), the same server at --max-batch 1 (no batching),
and llama-cpp-python's own server (one request at a time, started with --interrupt_requests false).

Each server is started in turn on a free 127.0.0.1 port, measured by the endpoint client (mlc_benchmark.py's
closed loop: --concurrency requests in flight, every request --n-tokens tokens after the first, EOS ignored) and
stopped; the order is alternated over --rounds. Throughput is collate's aggregate_tokens_per_sec: every request's
tokens over the time from the first request's start to the last one's end. Prints each round, the medians and
the ratios. The raw logs stay in -o, for mlc_collate.py."""
import argparse, os, statistics, sys
from pathlib import Path
from inferbench.core import cli
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

def main():
  p = cli.Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--size", default="135M")
  p.add_argument("--quantize", default="Q8_0")
  p.add_argument("--concurrency", type=int, default=8)
  p.add_argument("--max-batch", type=int, default=8)
  p.add_argument("--batch-timeout-ms", type=float, default=10.0)
  p.add_argument("--requests", type=int, default=16, help="measured requests per server and round")
  p.add_argument("--n-tokens", type=int, default=64)
  # a core is left to the client, which runs on the same machine: llama.cpp's threads spin while they wait for each
  # other, so a server whose threads share cores with the client (or other jobs) slows down many times over
  p.add_argument("--threads", type=int, default=max(1, len(os.sched_getaffinity(0)) - 1), help="server threads (default: %(default)s)")
  p.add_argument("--rounds", type=int, default=2, help="alternate the three servers this many times")
  p.add_argument("-o", "--output-dir", type=Path, default=ROOT / "benchmark_output" / "serving_batching")
  args = p.parse_args()
  from inferbench.store import collate
  from inferbench.models import prepare
  from inferbench.core import proc
  from inferbench.run import load
  from inferbench.store.rawlog import parse
  model = prepare.quantized(prepare.source_path(args.size), args.quantize, args.threads)
  ours = [sys.executable, "-m", "inferbench.serving.server", "--model", str(model), "--threads", str(args.threads), "--ctx", "512",
          "--max-queue", str(4 * args.concurrency), "--batch-timeout-ms", str(args.batch_timeout_ms)]
  servers = {f"batching (max batch {args.max_batch})": ("inferbench_batched", [*ours, "--max-batch", str(args.max_batch)]),
             "no batching (max batch 1)": ("inferbench_unbatched", [*ours, "--max-batch", "1"]),
             "llama-cpp-python server": ("llamacpp_server", [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--n_threads", str(args.threads),
                                                             "--n_threads_batch", str(args.threads), "--n_ctx", "2048", "--interrupt_requests", "false"])}
  tok_s: dict[str, list[float]] = {k: [] for k in servers}
  for rnd in range(args.rounds):
    order = list(servers) if rnd % 2 == 0 else list(servers)[::-1]  # neither end of the run favours one server
    for label in order:
      name, cmd = servers[label]
      out = args.output_dir / f"round{rnd}"
      before = set(out.glob(f"{name}_*.txt"))
      with proc.launch(cmd, args.output_dir / f"{name}.server.log") as srv:
        load.main(["--endpoint", srv.url, "--server-name", name, "--size", args.size, "--quantize", args.quantize, "--device", "cpu",
                      "--concurrency", str(args.concurrency), "--requests", str(args.requests), "--n-tokens", str(args.n_tokens),
                      "--warmup-requests", "2", "--request-timeout", "600", "-o", str(out)])
      (path,) = set(out.glob(f"{name}_*.txt")) - before
      log = parse(path)
      if not log.ok: sys.exit(f"{label}: {log.status}")
      tok_s[label].append(collate.aggregate_tokens_per_sec(log))
      print(f"round {rnd + 1} {label}: {tok_s[label][-1]:.1f} tok/s aggregate", flush=True)
  med = {k: statistics.median(v) for k, v in tok_s.items()}
  print(f"\n{args.size} {args.quantize}, concurrency {args.concurrency}, {args.requests} requests x {args.n_tokens + 1} tokens, "
        f"{args.threads} threads, {args.rounds} rounds (median):")
  for k, v in med.items(): print(f"  {k:28s} {v:8.1f} tok/s   rounds: {', '.join(f'{x:.1f}' for x in tok_s[k])}")
  batched, *others = med
  for k in others: print(f"  {batched} / {k}: {med[batched] / med[k]:.2f}x")

if __name__ == "__main__": main()
