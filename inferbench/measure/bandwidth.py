"""The rooflines: a device's memory bandwidth and its compute ceiling, each measured once per host and cached. Decode
is bounded by the bandwidth (every weight read once per step), prefill mostly by the compute ceiling.

core/roofline.py says what a step must read and the fraction of this bandwidth it achieved. The bandwidth is
measured, not taken from a datasheet:

  cuda: torch's device-to-device copy_ of a 2 GiB buffer, each copy timed with CUDA events, counting bytes read
        plus written (2 x the buffer, as STREAM's Copy counts them; HBM has no write-allocate traffic)
        (tinygrad's elementwise copy kernel, timed with a synchronize, where torch is missing)
  cpu:  numpy's max over a 1 GiB buffer (INFERBENCH_BANDWIDTH_CPU_MIB: another size, named in the method) split
        across all cores' threads, wall clock, counting the bytes read.
        Read-only, because that is what decode does: a copy's counted bytes miss the write-allocate reads of the
        destination, and on a 2-core VM llama.cpp streamed weights 35% faster than a copy's counted rate.

The compute ceiling is a dense matrix product's rate, counting 2 n^3 FLOPs per product of two n x n matrices:
  cuda: torch float16 matmul of 8192 x 8192, CUDA events (tensor cores: the ceiling a float16 model can reach)
  cpu:  numpy float32 matmul of 2048 x 2048 on the BLAS threads numpy brings (all cores), wall clock
A kernel on integer dot products (llama.cpp's Q8_0) may beat a float32 ceiling; the models say so instead of
reporting a fraction above 1.

Either way 3 unmeasured passes, then the median of 20. Run `python -m inferbench.measure.bandwidth cuda [--compute]`
to measure again.
"""
from __future__ import annotations
import datetime, json, os, socket, statistics, subprocess, sys, time
from pathlib import Path
from inferbench.core import registry, cli, files
from inferbench.core.files import atomic_write

CACHE_DIR = Path(os.environ.get("INFERBENCH_CACHE", Path.home() / ".cache" / "inferbench"))
WARMUP, REPEATS = 3, 20
COPY_COUNTED, READ_COUNTED = "read + written (2 x buffer per copy)", "read (1 x buffer per pass)"
COUNTED = {"cuda": COPY_COUNTED, "cpu": READ_COUNTED}
CPU_BYTES = int(os.environ.get("INFERBENCH_BANDWIDTH_CPU_MIB", "1024")) << 20  # smaller in tests; the method names the size

def cache_path(device: str, kind: str = "bandwidth") -> Path: return CACHE_DIR / f"{kind}-{socket.gethostname()}-{device}.json"

def measure_cuda(nbytes: int = 2 << 30) -> dict:
  try: import torch
  except ImportError: torch = None
  if torch is not None and torch.cuda.is_available():
    a = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda").uniform_()  # random data, never zeros
    b = torch.empty_like(a)
    for _ in range(WARMUP): b.copy_(a)
    secs = []
    for _ in range(REPEATS):
      e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
      e0.record(); b.copy_(a); e1.record(); e1.synchronize()
      secs.append(e0.elapsed_time(e1) / 1e3)
    assert torch.equal(a[-1024:], b[-1024:]), "the copy did not copy"
    return {"method": f"torch {torch.__version__} device-to-device copy_ of {nbytes >> 20} MiB, CUDA events", "seconds": secs,
            "bytes_moved": 2 * nbytes, "bytes_counted": COPY_COUNTED, "device_name": torch.cuda.get_device_name()}
  from tinygrad import Device, Tensor
  import tinygrad
  a = Tensor.rand(nbytes // 4).realize()
  secs = []
  for i in range(WARMUP + REPEATS):
    Device[a.device].synchronize()
    t0 = time.perf_counter(); (a + 1).realize(); Device[a.device].synchronize()
    if i >= WARMUP: secs.append(time.perf_counter() - t0)
  return {"method": f"tinygrad {tinygrad.__version__} elementwise copy of {nbytes >> 20} MiB on {a.device}, synchronize",
          "seconds": secs, "bytes_moved": 2 * nbytes, "bytes_counted": COPY_COUNTED, "device_name": a.device}

def measure_cpu(nbytes: int = CPU_BYTES, threads: int | None = None) -> dict:
  import numpy as np
  from concurrent.futures import ThreadPoolExecutor
  threads = threads or registry.DEFAULT_THREADS
  a = np.random.default_rng(0).random(nbytes // 8)
  a[-1] = 2.0  # random() is below 1, so every part's max is known
  parts = [a[i * len(a) // threads:(i + 1) * len(a) // threads] for i in range(threads)]
  secs = []
  with ThreadPoolExecutor(threads) as pool:  # numpy releases the GIL in reductions
    for i in range(WARMUP + REPEATS):
      t0 = time.perf_counter()
      peaks = list(pool.map(np.max, parts))
      if i >= WARMUP: secs.append(time.perf_counter() - t0)
  assert peaks[-1] == 2.0, "the reduction did not read the buffer"
  return {"method": f"numpy {np.__version__} max over {nbytes >> 20} MiB in {threads} threads, wall clock", "seconds": secs,
          "bytes_moved": nbytes, "bytes_counted": READ_COUNTED, "device_name": None}

def _timed(step, check=lambda: True) -> list[float]:
  secs = []
  for i in range(WARMUP + REPEATS):
    t0 = time.perf_counter(); step()
    if i >= WARMUP: secs.append(time.perf_counter() - t0)
  assert check(), "the product is wrong"
  return secs

def compute_cuda(n: int = 8192) -> dict:
  import torch
  a = torch.randn(n, n, dtype=torch.float16, device="cuda")
  def step(): (a @ a); torch.cuda.synchronize()  # synchronized wall clock: a launch is microseconds of ~0.3 s of work
  return {"method": f"torch {torch.__version__} float16 matmul {n}x{n}, synchronized wall clock", "seconds": _timed(step),
          "flops": 2 * n**3, "device_name": torch.cuda.get_device_name()}

def compute_cpu(n: int = 2048) -> dict:
  import numpy as np
  a = np.random.default_rng(0).random((n, n), dtype=np.float32)
  eye = np.eye(n, dtype=np.float32)
  out = {}
  def step(): out["c"] = a @ eye
  secs = _timed(step, lambda: np.array_equal(out["c"], a))  # times the identity: the product is known
  return {"method": f"numpy {np.__version__} float32 matmul {n}x{n}, BLAS threads, wall clock", "seconds": secs, "flops": 2 * n**3,
          "device_name": None}

def measure(device: str, kind: str = "bandwidth") -> dict:
  if kind == "compute":
    m = compute_cuda() if device == "cuda" else compute_cpu()
    rates, unit = [m["flops"] / s / 1e9 for s in m.pop("seconds")], "gflop_s"
  else:
    m = measure_cuda() if device == "cuda" else measure_cpu()
    rates, unit = [m["bytes_moved"] / s / 1e9 for s in m.pop("seconds")], "gb_s"
  return {unit: round(statistics.median(rates), 1), f"{unit}_max": round(max(rates), 1), f"{unit}_min": round(min(rates), 1),
          "count": len(rates), "host": socket.gethostname(),
          "device": device, "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), **m}

def host_ceiling(device: str, kind: str = "bandwidth", remeasure: bool = False) -> dict:
  """The cached measurement (kind: bandwidth or compute) for this host and device, measuring it first (in a separate
  process, so no CUDA context or buffer stays in the benchmark's) if there is none."""
  path = cache_path(device, kind)
  if path.is_file() and not remeasure:
    try: cached = json.loads(path.read_text())
    except json.JSONDecodeError: cached = {}
    if kind == "compute" or cached.get("bytes_counted") == COUNTED[device]: return cached  # else measured by an older method: measure again
  out = subprocess.run([sys.executable, "-m", "inferbench.measure.bandwidth", device, "--print-only", *(["--compute"] if kind == "compute" else [])],
                       capture_output=True, text=True, cwd=files.ROOT, timeout=600)
  if out.returncode != 0: raise RuntimeError(f"{kind} measurement on {device} failed: {out.stderr.strip()[-300:]}")
  result = json.loads(out.stdout.strip().splitlines()[-1])
  atomic_write(path, json.dumps(result, indent=1) + "\n")
  return result

def host_bandwidth(device: str, remeasure: bool = False) -> dict: return host_ceiling(device, "bandwidth", remeasure)

def header(device: str) -> dict:
  """Raw-log header keys: the ceilings travel with the data they bound."""
  out = {}
  for kind, key, unit, prefix in (("bandwidth", "roofline_gb_s", "gb_s", "roofline"), ("compute", "compute_gflop_s", "gflop_s", "compute")):
    try: m = host_ceiling(device, kind)
    except (RuntimeError, OSError, subprocess.TimeoutExpired, ValueError) as e:
      out |= {key: "", f"{prefix}.error": f"{type(e).__name__}: {e}"}
      continue
    out |= {key: m[unit], f"{prefix}.method": m["method"], f"{prefix}.measured_at": m["measured_at"],
            f"{prefix}.spread_{unit}": f"{m[unit + '_min']}..{m[unit + '_max']} over {m['count']}", f"{prefix}.cache": cache_path(device, kind),
            **({"roofline.bytes_counted": m["bytes_counted"]} if kind == "bandwidth" else {})}
  return out

if __name__ == "__main__":
  import argparse
  p = cli.Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("device", choices=["cpu", "cuda"])
  p.add_argument("--compute", action="store_true", help="the compute ceiling (a matrix product's FLOP/s) instead of the bandwidth")
  p.add_argument("--print-only", action="store_true", help="measure and print JSON, do not write the cache")
  args = p.parse_args()
  kind = "compute" if args.compute else "bandwidth"
  result = measure(args.device, kind) if args.print_only else host_ceiling(args.device, kind, remeasure=True)
  print(json.dumps(result))
