#!/usr/bin/env python3
"""Times the data path on a million step rows: raw logs -> collate -> CSV -> analysis (runs.csv, summary.csv,
ratios.csv). Writes a seeded synthetic folder of logs as the worker writes them (100 logs x 10 runs x
1,000 decode steps by default, synthetic-weights style with empty text, plus a few logs with real-style cumulative
text) into a temporary folder, then runs each stage in a child process and prints its wall time, rows/s, CPU
seconds and peak memory (the child's max RSS, from wait4): the median of --repeats runs of each (the machine may be
shared: the CPU seconds vary less than the wall time). The collate stages:
  first         no CSV yet (CSV and index removed before each repeat)
  unchanged     the CSV and its index there, no log changed
  one new log   one more log of 10 x 1,001 rows since the last collate (removed again before each repeat)
  no index      the CSV there but not its index (a CSV of an earlier version, or copied without it)

  python benchmarks/data_path.py                  # the issue's 1M rows
  python benchmarks/data_path.py --logs 10        # a quick look
"""
from __future__ import annotations
import argparse, json, os, random, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from inferbench.core import cli
from inferbench.store.rawlog import LogWriter  # noqa: E402

BACKEND = "llamacpp"
WORDS = "the of and a to in is you that it he was for on are as with his they at be this have from or one had by word".split()

def header(i: int, n_runs: int, n_steps: int, text: bool) -> dict:
  """A header with the keys and value sizes of a real CPU log (docs/results/cpu)."""
  return {"platform": "Linux-6.18.44-fc-v657-x86_64-with-glibc2.36", "release": "6.18.44-fc-v657", "hostname": "vm", "username": "root",
          "cpu_model": "Intel(R) Xeon(R) Processor @ 2.00GHz", "cpu_count": 2, "mem_total_gib": 23.5, "python": "3.11.7",
          "python_executable": "/work/main/.venv/bin/python", "version.llama_cpp_python": "0.3.36", "version.tinygrad": "0.13.0",
          "version.numpy": "2.4.6", "version.gguf": "0.19.0", "version.huggingface_hub": "2.4.0",
          "git_commit": "46913b1eb2ef280710a3833fba42f1c9138c5294", "started_at": f"2026-11-22T18:{i // 60:02d}:{i % 60:02d}+00:00",
          "backend": BACKEND, "size": "1B" if not text else "135M", "quantize": "Q4_K_M", "seed": i, "uuid": f"{i:08x}", "device": "cpu",
          "threads": 2, "n_prompt_tokens": 37, "prompt_token_ids": json.dumps(list(range(500, 537))), "n_decode_steps": n_steps,
          "runs": n_runs, "warmup": 2, "min_seconds": 2.0, "ctx": 2048, "temperature": 0.0, "sampling": "greedy", "roofline_gb_s": 15.7,
          "roofline.method": "numpy 2.4.6 max over 1024 MiB in 2 threads, wall clock", "roofline.bytes_counted": "read (1 x buffer per pass)",
          "roofline.measured_at": "2026-11-22T18:44:47+00:00", "roofline.spread_gb_s": "14.8..15.9 over 20",
          "roofline.cache": "/root/.cache/inferbench/bandwidth-vm-cpu.json",
          "model_name": "Llama-3.2-1B-Instruct (synthetic weights)" if not text else "Smollm2 135M 8k Lc100K Mix1 Ep2",
          "model_file": "/work/main/models/synthetic/Llama-3.2-1B-Instruct-synthetic-seed0.Q4_K_M.gguf",
          "model_source_file": "/work/main/models/synthetic/Llama-3.2-1B-Instruct-synthetic-seed0.F16.gguf",
          "model_sha256": "e5f47ad1c65a7c44fb4d8b9f9f89f7e9d08f674c9cc9ecebeaa9cea18df9d77d", "model_type": "Q4_K_M", "model_arch": "llama",
          "weights": "synthetic" if not text else "real", "n_params": 1235814400, "model_bytes": 807694336, "bits_per_weight": 5.229,
          "n_layers": 16, "n_kv_heads": 8, "head_dim": 64, "tied_embeddings": 1, "prepare_seconds": 15.441, "backend_version": "0.3.36",
          "backend_device": "CPU", "device_name": "Intel(R) Xeon(R) Processor @ 2.00GHz", "load_seconds": 0.485, "llamacpp.flash_attn": 0,
          "llamacpp.n_gpu_layers": 0, "llamacpp.sampling": "harness (numpy)",
          "llamacpp.system_info": "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | AVX512 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |",
          "warmup_seconds": 7.391}

def write_logs(folder: Path, n_logs: int, n_runs: int, n_steps: int, n_text: int, seed: int = 0) -> int:
  """The synthetic folder; the last n_text logs carry cumulative text, as a real model's logs do. Returns the step rows."""
  rng = random.Random(seed)
  for i in range(n_logs): write_one(folder / f"{BACKEND}_vm_1B-synthetic_Q4-K-M_seed{i}_uuid{i:08x}.txt", i, n_runs, n_steps, i >= n_logs - n_text, rng)
  return n_logs * n_runs * (n_steps + 1)

def write_one(path: Path, i: int, n_runs: int, n_steps: int, text: bool = False, rng: random.Random | None = None):
  """One log as the worker writes it: n_runs runs of a prefill and n_steps decode steps."""
  rng = rng or random.Random(i)
  w = LogWriter(path)
  w.header(header(i, n_runs, n_steps, text))
  for r in range(n_runs):
    out = ""
    for s in range(n_steps + 1):
      total = rng.uniform(250, 300) if s == 0 else rng.uniform(25, 35)
      if text: out += (" " if s else "") + rng.choice(WORDS) + ("\n" if rng.random() < 0.05 else "")
      w.step(run=r, phase="decode" if s else "prefill", step=s, position=36 + s if s else 0, n_tokens=1 if s else 37,
             token_id=rng.randrange(49152), enqueue_latency_ms=round(total - rng.uniform(0.1, 0.3), 4), total_latency_ms=round(total, 4),
             bytes_read=None, min_bytes_read=807694336 + 1536 * s, text=out if text else "")
    w.run(run=r, internal_prefill_ms=round(rng.uniform(250, 300), 3), internal_decode_ms=round(n_steps * 30.0, 3),
          internal_prefill_tokens=37, internal_decode_steps=n_steps)
  w.close()

def child(code: str) -> tuple[dict, int]:
  """Runs code in a fresh interpreter; returns what it prints (JSON) and its peak RSS in bytes."""
  proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE)
  out = proc.stdout.read()
  _, status, usage = os.wait4(proc.pid, 0)
  proc.returncode = os.waitstatus_to_exitcode(status)
  if proc.returncode: raise SystemExit(f"the child failed with exit code {proc.returncode}")
  return json.loads(out), usage.ru_maxrss * 1024

def time_collate(folder: Path) -> tuple[dict, int]:
  return child(f"""import json, time
from inferbench.store.collate import collate
t0, c0 = time.perf_counter(), time.process_time()
target, n, problems = collate({BACKEND!r}, {str(folder)!r})
print(json.dumps({{"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, "rows": n, "problems": len(problems),
                  "csv_bytes": target.stat().st_size}}))""")

def time_analysis(folder: Path) -> tuple[dict, int]:
  """benchmark_analysis.py's work on the collated folder: read the CSVs, the run table, the summary, the ratios, the
  three files written."""
  return child(f"""import json, time
from pathlib import Path
from inferbench.analyse import analysis
t0, c0 = time.perf_counter(), time.process_time()
data = analysis.load(Path({str(folder)!r}))
runs, summary, ratios = analysis.analyse(data)
analysis.write(Path({str(folder)!r}), runs, summary, ratios)
print(json.dumps({{"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, "rows": len(data.steps)}}))""")

def median_of(repeats: int, run, before=lambda: None) -> tuple[dict, int]:
  """The run (a (figures, peak RSS) pair) whose wall time is the median of `repeats`, each after `before`."""
  done = []
  for _ in range(repeats):
    before()
    done.append(run())
  return sorted(done, key=lambda r: r[0]["seconds"])[len(done) // 2]

def main(argv: list[str] | None = None) -> int:
  p = cli.Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--logs", type=int, default=100)
  p.add_argument("--runs", type=int, default=10)
  p.add_argument("--steps", type=int, default=1000, help="decode steps per run (each run also has its prefill step)")
  p.add_argument("--text-logs", type=int, default=2, help="logs with real-style cumulative text")
  p.add_argument("--repeats", type=int, default=3, help="runs of each stage; the median is printed")
  p.add_argument("--keep", type=Path, help="write the folder here (and keep it) instead of a temporary one")
  args = p.parse_args(argv)
  from inferbench.store.collate import csv_path, index_path
  with tempfile.TemporaryDirectory(prefix="inferbench-data-path-") as tmp:
    folder = args.keep or Path(tmp)
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    n = write_logs(folder, args.logs, args.runs, args.steps, args.text_logs)
    size = sum(f.stat().st_size for f in folder.glob("*.txt"))
    print(f"{args.logs} logs x {args.runs} runs x {args.steps + 1} steps = {n:,} step rows, {size / 1e6:,.0f} MB of logs "
          f"({args.text_logs} with text), written in {time.perf_counter() - t0:.0f} s; load average {os.getloadavg()[0]:.1f}")
    target = csv_path(folder, BACKEND)
    extra = folder / f"{BACKEND}_vm_extra_uuid{args.logs:08x}.txt"
    def fresh(): target.unlink(missing_ok=True); index_path(target).unlink(missing_ok=True)
    def no_extra():  # the folder as the last collate left it, but for the new log
      if extra.exists(): extra.unlink(); time_collate(folder)
    def new_log(): no_extra(); write_one(extra, args.logs, args.runs, args.steps)
    stages = [("collate: first", median_of(args.repeats, lambda: time_collate(folder), fresh)),
              ("collate: unchanged", median_of(args.repeats, lambda: time_collate(folder))),
              ("collate: one new log", median_of(args.repeats, lambda: time_collate(folder), new_log)),
              ("collate: no index", median_of(args.repeats, lambda: time_collate(folder), lambda: index_path(target).unlink(missing_ok=True))),
              ("analysis", median_of(args.repeats, lambda: time_analysis(folder)))]
    print(f"{'stage (median of ' + str(args.repeats) + ')':<28}{'seconds':>9}{'rows/s':>13}{'CPU s':>8}{'peak RSS MB':>13}{'CSV MB':>9}")
    for name, (fig, rss) in stages:
      print(f"{name:<28}{fig['seconds']:>9.2f}{fig['rows'] / fig['seconds']:>13,.0f}{fig['cpu_seconds']:>8.2f}{rss / 1e6:>13,.0f}{fig.get('csv_bytes', 0) / 1e6:>9,.0f}")
    print(f"load average after: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} CPUs)")
  return 0

if __name__ == "__main__": sys.exit(main())
