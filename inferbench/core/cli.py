"""What every command-line entry point shares: a bad value is one line that names it and the way out, exit code 2,
before anything runs."""
from __future__ import annotations
import argparse, math, re, tempfile
from pathlib import Path

class Parser(argparse.ArgumentParser):
  """argparse, with its errors on one line (argparse prints the whole usage first)."""
  def error(self, message: str):
    self.exit(2, f"error: {message} (see {self.prog} --help)\n")

def whole(minimum: int):
  """An argparse type: a whole number of at least `minimum`."""
  def parse(text: str) -> int:
    try: n = int(text)
    except ValueError: raise argparse.ArgumentTypeError(f"{text!r} is not a whole number: pass one of at least {minimum}") from None
    if n < minimum: raise argparse.ArgumentTypeError(f"{n} is too small: pass {minimum} or more")
    return n
  return parse

def number(minimum: float, inclusive: bool = True):
  """An argparse type: a finite number of at least `minimum` (above it, unless inclusive)."""
  def parse(text: str) -> float:
    try: x = float(text)
    except ValueError: x = math.nan
    if not math.isfinite(x): raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    if x < minimum or (x == minimum and not inclusive):
      raise argparse.ArgumentTypeError(f"{text} is too small: pass a number {'>=' if inclusive else '>'} {minimum:g}")
    return x
  return parse

def output_dir(path: Path, flag: str = "-o") -> Path:
  """Makes an output folder and proves it writable, so a bad one fails before anything runs. Raises ValueError."""
  if path.exists() and not path.is_dir(): raise ValueError(f"{flag} {path} is a file, not a folder: pass a folder (it is made if missing)")
  try:
    path.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"): pass
  except OSError as e:
    raise ValueError(f"{flag} {path} is not a folder this user can write to ({e.strerror}): pass another folder") from None
  return path

def defaults(parser: argparse.ArgumentParser, **values) -> argparse.Namespace:
  """A command's flags at their defaults but for `values`: what a caller that is not the command line (an experiment
  file, another stage) passes to the command's functions, with no flags spelled out and parsed again."""
  return argparse.Namespace(**{**vars(parser.parse_args([])), **values})

LABEL = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?(=[\w.-]+)?")

def node_labels(text: str) -> str:
  """An argparse type: labels a node must all offer (gpu_type=H100, cpu, a host name, a Ray label key=value), comma
  separated, spelled one way (sorted) so that equal requirements compare equal."""
  parts = sorted({p.strip() for p in text.split(",") if p.strip()})
  if not parts or (bad := [p for p in parts if not LABEL.fullmatch(p)]):
    raise argparse.ArgumentTypeError(f"{text!r} is not a node label: pass e.g. gpu_type=H100, cpu, a host name, or several joined by commas"
                                     + (f" ({bad[0]!r} is not one)" if parts else ""))
  return ",".join(parts)

def fleet_flags(p: argparse.ArgumentParser):
  """Running on a Ray cluster (fleet.py) instead of this machine: the same flags on every entry point that runs configurations."""
  p.add_argument("--cluster", metavar="auto|ADDRESS",
                 help="run each configuration as a Ray task on a node of this Ray cluster (auto: the one `ray start` runs here; "
                      "or ray://HEAD:10001, HEAD:6379), one at a time per node, every log written back here")
  p.add_argument("--nodes", nargs="+", type=node_labels, metavar="LABEL[,LABEL...]",
                 help="with --cluster: run each configuration on a node offering these labels (gpu_type=H100, gpu, cpu, a host name, "
                      "a `ray start --labels` key=value); several values run every configuration once on each kind")
  p.add_argument("--retries", type=whole(0), default=0, help="with --cluster: run a configuration whose node was lost again on another node, up to N times")

def check_fleet_flags(args: argparse.Namespace):
  """--nodes and --retries only mean something on a cluster. Raises ValueError."""
  if not args.cluster and (args.nodes or args.retries):
    raise ValueError(f"{'--nodes' if args.nodes else '--retries'} picks nodes of a Ray cluster: pass --cluster auto (or its address) too")
