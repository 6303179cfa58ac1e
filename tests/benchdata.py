"""Small real benchmark CSVs for the analysis, plot and deck tests: llama.cpp (two quantizations) and tinygrad on the
tiny synthetic model, through the real benchmark and collate scripts. Made once per test session, on first use."""
import csv, shutil, subprocess, sys
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
