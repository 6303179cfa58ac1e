#!/usr/bin/env python3
"""Do the project's serving numbers agree with an independent load client's? GuideLLM and the project's load client
(`inferbench load`), alternately against one `inferbench serve`, on the same workload: a distinct synthetic prompt of
--prompt-tokens tokens per request (GuideLLM's synthetic_text, the project's distinct workload), --output-tokens tokens
each with EOS ignored, greedy, a closed loop of --requests at each --concurrency. The clients' order alternates per round.

GuideLLM is installed by this script into its own virtualenv under --cache-dir (it pulls torch: several GB, minutes),
unpatched; it counts tokens with the served GGUF's tokenizer, exported once to a tokenizer folder there by transformers.
Both clients run as child processes, so each one's CPU time is measured the same way (getrusage of the child).

Per run, both computed here by one definition from each client's own per-request record (GuideLLM's JSON, the raw
log): output tok/s (tokens over first request start to last request end), TTFT p50 (request sent to first token) and
ITL p50 (each request's mean gap after its first token), and the client's CPU seconds and share of a core. Then per
concurrency the medians over rounds and the ratios project / GuideLLM, and GuideLLM's own summary figures beside them.
--also-repeated adds the project's client on one repeated prompt (--prompt: every request after the first a prompt-cache
hit), the workload the serving numbers were measured on before distinct prompts, for the side-by-side.

  python benchmarks/independent_client.py                          # 135M Q8_0, max batch 8, 1 thread; concurrency 1 4 8
  python benchmarks/independent_client.py --rounds 3 --also-repeated
"""
import argparse, json, os, resource, statistics, subprocess, sys, time
from pathlib import Path
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from inferbench.core import cli, proc, registry  # noqa: E402

GUIDELLM = "0.8.1"

def guidellm(cache: Path, version: str) -> Path:
  """The guidellm command of a virtualenv of its own, made (pip install guidellm==version) where it is missing."""
  venv, done = cache / f"guidellm-{version}", cache / f"guidellm-{version}" / ".installed"
  if not done.is_file():
    print(f"installing guidellm {version} into {venv} (it pulls torch: minutes, several GB)", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", f"guidellm=={version}"], check=True)
    done.write_text(version)
  return venv / "bin" / "guidellm"

def tokenizer_dir(cache: Path, gguf: Path) -> Path:
  """The GGUF's tokenizer as a Hugging Face tokenizer folder, what GuideLLM counts synthetic prompts' tokens with."""
  out = cache / f"tokenizer-{gguf.stem}"
  if not (out / "tokenizer.json").is_file():
    import transformers
    transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(str(out))
  return out

def child(cmd: list[str], log: Path, env: dict | None = None) -> float:
  """Runs a client to the end; returns its CPU seconds (user + system, its own and its children's)."""
  before = resource.getrusage(resource.RUSAGE_CHILDREN)
  with open(log, "w") as f: rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env).returncode
  after = resource.getrusage(resource.RUSAGE_CHILDREN)
  if rc: raise SystemExit(f"{cmd[0]} failed with code {rc}: see {log}")
  return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime

def figures(starts, ends, firsts, lasts, tokens) -> dict:
  """Output tok/s over the run's span, TTFT p50 and ITL p50 (over requests) in ms, from per-request times in seconds."""
  itl = [(l - f) / (n - 1) for f, l, n in zip(firsts, lasts, tokens) if n > 1]
  return {"tok_s": sum(tokens) / (max(ends) - min(starts)), "ttft_ms": 1e3 * statistics.median(f - s for s, f in zip(starts, firsts)),
          "itl_ms": 1e3 * statistics.median(itl), "wall_s": max(ends) - min(starts), "requests": len(tokens)}

def run_guidellm(exe: Path, url: str, model: str, tok: Path, args, c: int, out: Path) -> dict:
  spec = {"--backend": {"kind": "openai_http", "target": url.removesuffix("/v1"), "model": model, "request_format": "/v1/completions",
                        "extras": {"body": {"temperature": 0.0}}},  # greedy, as the project's client asks
          "--profile": {"kind": "concurrent", "streams": c}, "--constraint": {"kind": "max_requests", "count": args.requests},
          "--data": {"kind": "synthetic_text", "prompt_tokens": args.prompt_tokens, "output_tokens": args.output_tokens},
          "--tokenizer": {"kind": "huggingface_auto", "model": str(tok)}, "--output": {"kind": "json", "path": str(out / "benchmarks.json")}}
  env = {**os.environ, "HF_HUB_OFFLINE": "1", "GUIDELLM__DEFAULT_RESULTS_DIR": str(out)}
  cpu = child([str(exe), "run", *[x for k, v in spec.items() for x in (k, json.dumps(v))], "--disable-console-interactive"], out / "guidellm.log", env)
  b = json.loads((out / "benchmarks.json").read_text())["benchmarks"][0]
  done = b["requests"]["successful"]
  if len(done) != args.requests: raise SystemExit(f"GuideLLM completed {len(done)} of {args.requests} requests: see {out}")
  t = [r["info"]["timings"] for r in done]
  fig = figures([x["request_start"] for x in t], [x["request_end"] for x in t], [x["first_token_iteration"] for x in t],
                [x["last_token_iteration"] for x in t], [r["output_metrics"]["text_tokens"] for r in done])
  m = b["metrics"]  # GuideLLM's own summary, beside the one recomputed here
  own = {"own_tok_s": m["output_tokens_per_second"]["successful"]["mean"], "own_ttft_ms": m["time_to_first_token_ms"]["successful"]["median"],
         "own_itl_ms": m["inter_token_latency_ms"]["successful"]["median"]}
  prompt = {r["input_metrics"]["text_tokens"] for r in done}
  return fig | own | {"cpu_s": cpu, "prompt_tokens": "/".join(map(str, sorted(prompt))), "cached": sum(r["input_metrics"].get("cached_tokens") or 0 for r in done)}

def run_project(url: str, model: str, args, c: int, out: Path, repeated: bool) -> dict:
  from inferbench.store.rawlog import parse
  cmd = [sys.executable, "-m", "inferbench", "load", "--endpoint", url, "--served-model", model, "--size", args.size, "--quantize", args.quantize,
         "--concurrency", str(c), "--requests", str(args.requests), "--n-tokens", str(args.output_tokens - 1), "--warmup-requests", "0",
         "--prompt-tokens", str(args.prompt_tokens), "-o", str(out), *(["--prompt", registry.DEFAULT_PROMPT] if repeated else [])]
  cpu = child(cmd, out / "client.log")
  (log,) = [parse(p) for p in out.glob("inferbench_serve_*.txt")]
  runs = sorted(log.runs, key=lambda r: r["run"])
  ttft = {s["run"]: s["total_latency_ms"] for s in log.steps if s["step"] == 0}
  starts = [r["start_ms"] / 1e3 for r in runs]
  fig = figures(starts, [s + r["e2e_latency_ms"] / 1e3 for s, r in zip(starts, runs)], [s + ttft[r["run"]] / 1e3 for s, r in zip(starts, runs)],
                [s + ttft[r["run"]] / 1e3 + (r["n_token_chunks"] - 1) * r["itl_mean_ms"] / 1e3 for s, r in zip(starts, runs)],
                [r["usage_completion_tokens"] for r in runs])
  return fig | {"cpu_s": cpu, "prompt_tokens": "/".join(map(str, sorted({r["usage_prompt_tokens"] for r in runs}))),
                "cached": sum(r["usage_cached_tokens"] or 0 for r in runs)}

def main():
  p = cli.Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--size", default=registry.DEFAULT_SIZE)
  p.add_argument("--quantize", default="Q8_0")
  p.add_argument("--max-batch", type=int, default=8)
  p.add_argument("--batch-timeout-ms", type=float, default=0.0)
  p.add_argument("--threads", type=int, default=1, help="server threads: the client needs a core of its own (default: %(default)s)")
  p.add_argument("--concurrency", nargs="+", type=int, default=[1, 4, 8])
  p.add_argument("--requests", type=int, default=48, help="measured requests per run (default: %(default)s)")
  p.add_argument("--prompt-tokens", type=int, default=37)
  p.add_argument("--output-tokens", type=int, default=32, help="tokens per request, EOS ignored (the project's --n-tokens is one less)")
  p.add_argument("--rounds", type=int, default=2, help="runs per client and concurrency, the order alternated (default: %(default)s)")
  p.add_argument("--also-repeated", action="store_true", help="also the project's client on one repeated prompt (prompt-cache hits)")
  p.add_argument("--guidellm-version", default=GUIDELLM)
  p.add_argument("--cache-dir", type=Path, default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "inferbench",
                 help="where GuideLLM's virtualenv and the tokenizer folder are kept (default: %(default)s)")
  p.add_argument("-o", "--output-dir", type=Path, default=ROOT / "benchmark_output" / "independent_client")
  args = p.parse_args()
  from inferbench.models import prepare
  args.cache_dir.mkdir(parents=True, exist_ok=True)
  exe = guidellm(args.cache_dir, args.guidellm_version)
  gguf = prepare.quantized(prepare.source_path(args.size), args.quantize, args.threads)
  tok = tokenizer_dir(args.cache_dir, gguf)
  out = args.output_dir / time.strftime("%Y%m%dT%H%M%S")
  server = [sys.executable, "-m", "inferbench.serving.server", "--model", str(gguf), "--max-batch", str(args.max_batch), "--batch-timeout-ms",
            f"{args.batch_timeout_ms:g}", "--threads", str(args.threads), "--ctx", str(max(256, args.prompt_tokens + args.output_tokens + 16)), "--max-queue", "256"]
  clients = ["guidellm", "project"] + (["project, repeated prompt"] if args.also_repeated else [])
  rows = []
  with proc.launch(server, out / "server.log") as srv:
    for rnd in range(args.rounds):
      for c in args.concurrency:
        for who in (clients if rnd % 2 == 0 else clients[::-1]):
          where = out / f"r{rnd}_c{c}_{who.split(',')[0]}{'_repeated' if 'repeated' in who else ''}"
          where.mkdir(parents=True)
          r = run_guidellm(exe, srv.url, gguf.stem, tok, args, c, where) if who == "guidellm" else run_project(srv.url, gguf.stem, args, c, where, "repeated" in who)
          rows.append({"round": rnd + 1, "client": who, "concurrency": c, **r})
          print(f"round {rnd + 1} concurrency {c} {who}: {r['tok_s']:.1f} tok/s, TTFT p50 {r['ttft_ms']:.1f} ms, ITL p50 {r['itl_ms']:.2f} ms, "
                f"{r['cpu_s']:.2f} CPU-s ({r['cpu_s'] / r['wall_s']:.2f} of a core), prompt tokens {r['prompt_tokens']}, cached {r['cached']}", flush=True)
  (out / "runs.json").write_text(json.dumps(rows, indent=1))
  med = lambda who, c, k: statistics.median(r[k] for r in rows if r["client"] == who and r["concurrency"] == c)
  print(f"\ninferbench serve ({gguf.name}, max batch {args.max_batch}, timeout {args.batch_timeout_ms:g} ms, {args.threads} thread); {args.requests} requests "
        f"of {args.prompt_tokens} prompt + {args.output_tokens} output tokens per run; medians over {args.rounds} round(s); raw records in {out}")
  print("| concurrency | client | output tok/s | TTFT p50 ms | ITL p50 ms | client CPU-s | GuideLLM's own: tok/s, TTFT p50, ITL p50 |\n|---|---|---|---|---|---|---|")
  for c in args.concurrency:
    for who in clients:
      own = f"{med(who, c, 'own_tok_s'):.1f}, {med(who, c, 'own_ttft_ms'):.1f}, {med(who, c, 'own_itl_ms'):.2f}" if who == "guidellm" else ""
      print(f"| {c} | {who} | {med(who, c, 'tok_s'):.1f} | {med(who, c, 'ttft_ms'):.1f} | {med(who, c, 'itl_ms'):.2f} | {med(who, c, 'cpu_s'):.2f} | {own} |")
    for who in clients[1:]:
      print(f"| {c} | {who} / guidellm | {med(who, c, 'tok_s') / med('guidellm', c, 'tok_s'):.3f} | {med(who, c, 'ttft_ms') / med('guidellm', c, 'ttft_ms'):.3f} | "
            f"{med(who, c, 'itl_ms') / med('guidellm', c, 'itl_ms'):.3f} | | |")

if __name__ == "__main__": main()
