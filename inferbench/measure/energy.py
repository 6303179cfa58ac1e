"""Energy a run used, from the hardware's own cumulative counters read before, after the prefill and after the last
decode step (never estimated from a power rating):

  GPU  NVML's nvmlDeviceGetTotalEnergyConsumption (nvidia-ml-py): millijoules since the driver loaded (Volta and
       newer), summed over the GPUs the process may use (CUDA_VISIBLE_DEVICES, else all). Only for --device cuda.
  CPU  RAPL's package counters, /sys/class/powercap/intel-rapl:N/energy_uj (microjoules, wrapping at
       max_energy_range_uj), summed over the packages. Often readable by root only.

Where a counter cannot be read the log's header says `not measured` and why, and the run lines carry no value for it:
never a 0. A window is wall-clock time, the harness's work between steps included; counters update every few
milliseconds, so a short run's figure is coarse and the analysis pools runs (energy per token = the runs' joules over
their tokens).
"""
from __future__ import annotations
import os, time
from pathlib import Path

RAPL = Path("/sys/class/powercap")
NOT_MEASURED = "not measured"
KINDS = ("gpu", "cpu")

class Nvml:
  """The GPUs' total-energy counters, in joules."""
  def __init__(self):
    import pynvml
    pynvml.nvmlInit()
    self.nvml, n = pynvml, pynvml.nvmlDeviceGetCount()
    self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in visible(os.environ.get("CUDA_VISIBLE_DEVICES"), n)]
    if not self.handles: raise RuntimeError("NVML sees no GPU")
    names = [pynvml.nvmlDeviceGetName(h) for h in self.handles]
    self.source = (f"NVML nvmlDeviceGetTotalEnergyConsumption, {len(names)} GPU(s): "
                   + ", ".join(n.decode() if isinstance(n, bytes) else n for n in names))
    self.read()  # a GPU without the counter raises NVMLError (not supported) here, before any run

  def read(self) -> float: return sum(self.nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in self.handles) / 1e3
  def close(self): self.nvml.nvmlShutdown()

def visible(cuda_visible: str | None, count: int) -> list[int]:
  """The NVML indices CUDA_VISIBLE_DEVICES leaves (indices only; anything else, such as UUIDs, counts them all)."""
  if cuda_visible is None: return list(range(count))
  parts = [p.strip() for p in cuda_visible.split(",") if p.strip()]
  if not all(p.isdigit() for p in parts): return list(range(count))
  return [int(p) for p in parts if int(p) < count]

class Rapl:
  """The CPU packages' RAPL counters, in joules, their wrap-arounds added back."""
  def __init__(self, root: Path):
    zones = sorted(p for p in Path(root).glob("intel-rapl:*") if p.name.count(":") == 1)  # packages, not their sub-zones
    if not zones: raise RuntimeError(f"no RAPL package zone in {root}")
    self.zones = [(z / "energy_uj", int((z / "max_energy_range_uj").read_text())) for z in zones]
    names = [(z / "name").read_text().strip() if (z / "name").is_file() else z.name for z in zones]
    self.last = [self._uj(p) for p, _ in self.zones]  # raises PermissionError where only root may read it
    self.total_uj = 0
    self.source = f"RAPL energy_uj, {len(zones)} zone(s): {', '.join(names)}"

  @staticmethod
  def _uj(path: Path) -> int: return int(path.read_text())

  def read(self) -> float:
    for i, (path, span) in enumerate(self.zones):
      now = self._uj(path)
      self.total_uj += (now - self.last[i]) % (span + 1)  # a counter that wrapped since the last read
      self.last[i] = now
    return self.total_uj / 1e6
  def close(self): pass

def _open(kind: str, device: str, rapl_root: Path | None):
  """(counter, None) or (None, why not)."""
  if kind == "gpu" and device != "cuda": return None, f"{NOT_MEASURED}: --device {device}"
  try: return (Nvml() if kind == "gpu" else Rapl(rapl_root or RAPL)), None
  except ImportError as e: return None, f"{NOT_MEASURED}: {e.name or 'pynvml'} is not installed (pip install nvidia-ml-py)"
  except Exception as e:  # noqa: BLE001 - NVML's errors are its own classes; any failure means no counter
    return None, f"{NOT_MEASURED}: {type(e).__name__}: {e}".replace("\n", " ")[:200]

class Meter:
  """The counters this process can read. mark() reads them all; totals() turns three marks into a run line's values."""
  def __init__(self, device: str, rapl_root: Path | None = None):
    self.counters, self.why = {}, {}
    for kind in KINDS:
      c, why = _open(kind, device, rapl_root)
      if c: self.counters[kind] = c
      else: self.why[kind] = why

  def header(self) -> dict: return {f"energy_{k}": self.counters[k].source if k in self.counters else self.why[k] for k in KINDS}

  def mark(self) -> tuple[float, dict[str, float]]: return time.perf_counter(), {k: c.read() for k, c in self.counters.items()}

  def totals(self, start, decode_start, end) -> dict:
    """Joules of the whole run and of its decode steps per counter, and the windows' seconds; nothing unmeasured."""
    if not self.counters: return {}
    out = {"energy_s": end[0] - start[0], "decode_energy_s": end[0] - decode_start[0]}
    for k in self.counters:
      out[f"{k}_energy_j"] = end[1][k] - start[1][k]
      out[f"{k}_decode_energy_j"] = end[1][k] - decode_start[1][k]
    return {k: round(v, 6) for k, v in out.items() if v >= 0}  # a counter that went back (a driver reload) measured nothing

  def close(self):
    for c in self.counters.values(): c.close()
