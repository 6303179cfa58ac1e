"""Small real benchmark CSVs for the analysis, plot and deck tests: llama.cpp (two quantizations) and tinygrad on the
tiny synthetic model, through the real benchmark and collate scripts. Made once per test session, on first use."""
import contextlib, csv, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = ["--size", "tiny", "--n-tokens", "6", "--runs", "2", "--min-seconds", "0", "--warmup", "1", "--threads", "1"]

def script(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600)

def real_csvs(base: Path, tiny_model: Path) -> Path:
  """benchmark_output-like folder holding llamacpp.csv and tinygrad.csv from real runs."""
  out = base / "real"
  if (out / "tinygrad.csv").is_file(): return out
  tmp = base / "real.partial"
  shutil.rmtree(tmp, ignore_errors=True)
  for backend, quants in (("llamacpp", ["default", "int8"]), ("tinygrad", ["default"])):
    r = script(f"{backend}_benchmark.py", "--model", str(tiny_model), "--quantize", *quants, *RUN, "-o", str(tmp))
    assert r.returncode == 0, r.stderr[-2000:]
    r = script(f"{backend}_collate.py", "-d", str(tmp))
    assert r.returncode == 0, r.stderr[-2000:]
  tmp.rename(out)
  return out

def server_csv(folder: Path, **cells) -> Path:
  """llamacpp_server.csv beside folder's llamacpp.csv: its rows as an OpenAI-compatible server's, which does not say
  which GGUF it serves (no bits per weight, no model type), with these cells changed too."""
  with open(folder / "llamacpp.csv", newline="") as f: rows = list(csv.DictReader(f))
  with open(folder / "llamacpp_server.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows({**r, "backend": "llamacpp_server", "bits_per_weight": "", "model_type": "", **cells} for r in rows)
  return folder / "llamacpp_server.csv"

def only(src: Path, dst: Path, *names: str) -> Path:
  """A folder with some of src's CSVs: the data as it looks with a backend missing."""
  dst.mkdir(parents=True, exist_ok=True)
  for n in names: shutil.copyfile(src / n, dst / n)
  return dst

def made_up_results(folder: Path, configs: list[dict], n_runs: int = 3, noise: float = 0.01, seed: int = 0) -> Path:
  """runs.csv, summary.csv and ratios.csv of made-up runs, through the real analysis (run_table's columns, summary_table):
  each config dict gives its key columns and `ms`, its true decode ms/token; each run is off by a seeded `noise`
  fraction. For the model and recommender tests, whose point is a known truth."""
  import numpy as np, pandas as pd
  from inferbench.analyse import analysis
  rng, rows = np.random.default_rng(seed), []
  for i, c in enumerate(configs):
    c = {"backend": "llamacpp", "backend_version": "0.3", "mode": "", "hostname": "host", "device": "cpu", "device_name": "a cpu", "size": "135M",
         "weights": "real", "model_sha256": f"sha{i}", "quantize": "Q8_0", "model_type": "Q8_0", "threads": "2", "ctx": "256", "n_prompt_tokens": "37",
         "n_decode_steps": "16", "temperature": "0", "batch": "1", "concurrency": "", "request_rate": "", "knobs": "flash_attn=off", "workload": "", "gpu_index": "",
         "bits_per_weight": "8.5", "n_params": "134515008", "model_bytes": "143025408", "roofline_gb_s": 20.0, "compute_gflop_s": np.nan, "predicted_bytes": np.nan,
         "peak_rss_bytes": np.nan, "peak_device_bytes": np.nan, "ttft_ms": 50.0, **c}
    for r in range(n_runs):
      ms = c["ms"] * (1 + noise * rng.standard_normal())
      batch, steps = float(c["batch"]), float(c["n_decode_steps"])
      rows.append({**{k: v for k, v in c.items() if k != "ms"}, "source_csv": "llamacpp.csv", "log_file": f"log{i}.txt", "uuid": f"u{i}", "run": r,
                   "seed": "42", "git_commit": "c", "versions": "{}", "started_at": f"2026-01-01T00:{i:02d}:{r:02d}", "model_name": "m",
                   "platform": "", "release": "", "cpu_model": "", "python": "", "memory_bytes_source": "", "decode_tok_s": 1e3 * batch / ms,
                   "decode_steps": steps, "decode_ms": ms * steps, "decode_mem_gb_s": np.nan, "decode_param_gb_s": np.nan,
                   "prefill_tok_s": 37e3 / c["ttft_ms"], "prefill_steps": 1, "prefill_ms": c["ttft_ms"], "prefill_mem_gb_s": np.nan,
                   "prefill_param_gb_s": np.nan, "decode_tok_s_per_seq": 1e3 / ms, "decode_ms_median": ms, "pct_of_roofline": np.nan,
                   "internal_decode_ms": np.nan, "aggregate_tok_s": np.nan})
  runs = pd.DataFrame(rows)
  if "watts" in runs:  # a config's decode power, as a GPU's energy counter would have read it (blank: none read)
    joules = runs.pop("watts") * runs["decode_ms"] / 1e3
    runs = runs.assign(decode_energy_j=joules, decode_energy_s=runs["decode_ms"] / 1e3, gpu_decode_energy_j=joules, cpu_decode_energy_j=np.nan,
                       j_per_token=joules / (runs["decode_steps"] * runs["batch"].astype(float)), energy_measured=np.where(joules.notna(), "gpu", ""))
    runs["watts"] = runs["decode_energy_j"] / runs["decode_energy_s"]
  runs["config"] = analysis.config_ids(runs)
  runs["label"] = analysis.label(runs)
  steps = pd.DataFrame({"config": pd.Series(dtype=str), "phase": pd.Series(dtype=str), "lat_ms": pd.Series(dtype=float)})
  summary = analysis.summary_table(runs, analysis.Data(steps, pd.DataFrame(), [], [], []))
  folder.mkdir(parents=True, exist_ok=True)
  analysis.write(folder, runs, summary, pd.DataFrame(columns=analysis.RATIO_COLUMNS))
  return folder

SMALL = ["--n-tokens", "16", "--warmup", "0", "--min-seconds", "0", "--ctx", "128"]  # a backend test's runs: 16 steps, no warm-up

def benchmark(backend: str, out: Path, model: Path | None, *args: str, runs: int = 1) -> int:
  """The benchmark command, in this process, on a local model (None: the registry's, by --size in args), SMALL."""
  from inferbench.run import bench
  return bench.main(backend, [*(["--model", str(model)] if model else []), "-o", str(out), *SMALL, "--runs", str(runs), *args])

def small_sweep(model: Path, out: Path, quantize: list[str], backends: list[str]) -> dict[tuple[str, str], dict]:
  """A real quantization sweep of a few tokens on `model`, its CSV rows by (quant, backend)."""
  from inferbench.run import sweep
  small = ["--task-examples", "0", "--runs", "1", "--warmup", "0", "--min-seconds", "0", "--n-tokens", "4",
           "--quality-tokens", "64", "--quality-ctx", "32", "--threads", "1"]
  assert sweep.main(["--model", str(model), "--quantize", *quantize, "--backend", *backends, "-o", str(out), "--plot", str(out / "p.png"), *small]) == 0
  return {(r["quant"], r["backend"]): r for r in csv.DictReader(open(out / f"sweep_{model.stem}.csv", newline=""))}

def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]

@contextlib.contextmanager
def llama_server(model: Path, key: str | None = None):
  """llama-cpp-python's OpenAI-compatible server on model, 127.0.0.1 only: its /v1 URL, the server stopped after."""
  port, auth = free_port(), {"Authorization": f"Bearer {key}"} if key else {}
  cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
         "--n_threads", "1", "--n_ctx", "512", *(["--api_key", key] if key else []), "--interrupt_requests", "false"]
  proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    deadline = time.monotonic() + 60
    while True:
      try:
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/v1/models", headers=auth), timeout=2)
        break
      except OSError:
        if proc.poll() is not None or time.monotonic() > deadline: raise RuntimeError("llama-cpp-python's server did not start")
        time.sleep(0.3)
    yield f"http://127.0.0.1:{port}/v1"
  finally:
    proc.terminate()
    try: proc.wait(10)
    except subprocess.TimeoutExpired: proc.kill(); proc.wait()

def mixed_folder(base: Path, tiny_model: Path) -> Path:
  """The README's workflow in one folder: real_csvs' llama.cpp benchmark, a quantization sweep (sweep_135M.csv and its
  speed logs) and an endpoint benchmark of llama-cpp-python's server (llamacpp_server.csv), each collated, then the
  analysis. The sweep is labelled 135M, the endpoint's default --size, so the served model's rows meet the sweep's
  quality: a served model names no file (no model bytes, no type). Made once per session."""
  out = base / "mixed"
  if (out / "summary.csv").is_file(): return out
  tmp = base / "mixed.partial"
  shutil.rmtree(tmp, ignore_errors=True)
  only(real_csvs(base, tiny_model), tmp, "llamacpp.csv")
  r = script("llamacpp_sweep.py", "--model", str(tiny_model), "--size", "135M", "--quantize", "F16", "Q8_0", "-o", str(tmp), "--plot", str(tmp / "p.png"),
             "--task-examples", "0", "--runs", "2", "--warmup", "0", "--min-seconds", "0", "--n-tokens", "4", "--quality-tokens", "64",
             "--quality-ctx", "32", "--threads", "1")
  assert r.returncode == 0, r.stderr[-2000:]
  with llama_server(tiny_model) as url:
    r = script("mlc_benchmark.py", "--endpoint", url, "--server-name", "llamacpp_server", "--n-tokens", "4", "--concurrency", "1", "--requests", "3", "-o", str(tmp))
  assert r.returncode == 0, r.stderr[-2000:]
  for s in ("llamacpp_collate.py", "mlc_collate.py", "benchmark_analysis.py"):
    assert (r := script(s, "-d", str(tmp))).returncode == 0, r.stderr[-2000:]
  tmp.rename(out)
  return out
