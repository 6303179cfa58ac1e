"""What every command-line entry point shares: a bad value is one line that names it and the way out, exit code 2,
before anything runs."""
from __future__ import annotations
import argparse, math, tempfile
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
