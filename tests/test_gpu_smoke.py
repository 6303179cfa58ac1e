"""GPU smoke: each backend with --device cuda on the tiny model, on a machine with an NVIDIA GPU. Marked `gpu`:
pytest.ini deselects the mark, so CI and ./test.sh (no GPU) never run it; run it where GPU code changed, with the
GPU setup of docs/gpu.md: `python -m pytest -m gpu` (one backend: `-m gpu -k tinygrad`).

Each log must name the GPU NVML names, count the device memory the run held (at least the weights, at most the
card), and carry the GPU's measured bandwidth roofline (a device-to-device copy, counted read + written), which its
decode rows achieve a fraction of, as the analysis computes it."""
import csv, sys
import pytest
import benchdata
from inferbench.analyse import analysis
from inferbench.core import metadata, proc
from inferbench.measure import bandwidth
from inferbench.models import modelfile
from inferbench.run import load
from inferbench.store import collate, rawlog

pytestmark = pytest.mark.gpu

@pytest.fixture(scope="module")
def gpu() -> tuple[str, int]:
  """The first GPU's name and memory, from NVML: what the logs must agree with."""
  if not metadata.cuda_available(): pytest.fail("no CUDA device is visible (nvidia-smi -L): `pytest -m gpu` runs on a GPU machine")
  import pynvml
  pynvml.nvmlInit()
  try:
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    return pynvml.nvmlDeviceGetName(h), pynvml.nvmlDeviceGetMemoryInfo(h).total
  finally: pynvml.nvmlShutdown()

@pytest.mark.parametrize("backend", ["llamacpp", "tinygrad", "mlx", "torch"])
def test_backend_runs_on_the_gpu_and_its_log_says_so(backend, gpu, tiny_model, tmp_path):
  name, total = gpu
  assert benchdata.benchmark(backend, tmp_path, tiny_model, "--device", "cuda", runs=2) == 0
  (path,) = tmp_path.glob(f"{backend}_*.txt")
  log = rawlog.parse(path)
  assert log.ok, log.status
  h = log.header
  assert h["device"] == "cuda" and h["device_name"] == name  # nvidia-smi's name for it, not "CUDA GPU" or the CPU's
  weights = modelfile.describe(tiny_model).weight_bytes
  assert all(weights <= r["peak_device_bytes"] < total for r in log.runs), [r["peak_device_bytes"] for r in log.runs]
  # the roofline is this GPU's, measured: a copy on the device, not the CPU's read nor a datasheet figure
  assert h["roofline.bytes_counted"] == bandwidth.COPY_COUNTED and h["roofline.method"].startswith(("torch ", "tinygrad "))
  assert "device-to-device" in h["roofline.method"] or " on CUDA" in h["roofline.method"]
  roofline = float(h["roofline_gb_s"])
  assert 100 < roofline < 20_000  # GB/s: any CUDA GPU's memory, never a unit slip
  out, n, problems = collate.collate(backend, tmp_path)
  assert not problems and n == 2 * 17
  rows = [r for r in csv.DictReader(open(out, newline="")) if r["phase"] == "decode"]
  assert {float(r["roofline_gb_s"]) for r in rows} == {roofline}
  runs = analysis.run_table(analysis.load(tmp_path)).query("backend == @backend")
  want = [100 * sum(int(r["min_bytes_read"]) for r in mine) / (sum(float(r["total_latency_ms"]) for r in mine) / 1e3) / (roofline * 1e9)
          for mine in ([r for r in rows if r["run"] == run] for run in ("0", "1"))]  # the bytes decode must read, over its time
  assert sorted(runs["pct_of_roofline"]) == pytest.approx(sorted(want), rel=1e-6) and all(0 < p < 100 for p in want)

def gpu_memory_used() -> int:
  import pynvml
  pynvml.nvmlInit()
  try: return pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(0)).used
  finally: pynvml.nvmlShutdown()

def test_the_batching_server_runs_on_the_gpu(gpu, tiny_model, tmp_path):
  """inferbench serve --device cuda: the weights on the GPU (its memory in use grows by at least them while the server
  runs), batched requests answered, and the log names the GPU."""
  name, _ = gpu
  cmd = [sys.executable, "-m", "inferbench.serving.server", "--model", str(tiny_model), "--device", "cuda", "--max-batch", "4"]
  before = gpu_memory_used()
  with proc.launch(cmd, tmp_path / "server.log") as srv:
    held = gpu_memory_used() - before
    assert load.main(["--endpoint", srv.url, "--server-name", "inferbench_serve", "--tokenizer", str(tiny_model), "--device", "cuda",
                      "--concurrency", "4", "--requests", "8", "--n-tokens", "8", "-o", str(tmp_path)]) == 0
  assert held >= modelfile.describe(tiny_model).weight_bytes, held
  (path,) = tmp_path.glob("inferbench_serve_*.txt")
  log = rawlog.parse(path)
  assert log.ok and len(log.runs) == 8 and log.header["backend_device"] == name, (log.status, log.header.get("backend_device"))
