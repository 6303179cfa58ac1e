"""Where files live and how they are written: atomically, so that a reader sees the old content or the new, never half."""
from __future__ import annotations
import hashlib, os, tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

ROOT = Path(__file__).resolve().parents[2]  # the repository: its models/ cache, presentation.typ, the default folders
CACHE = Path(os.environ.get("INFERBENCH_MODELS", ROOT / "models"))

@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
  """A file to write in pieces, in place of path when the block ends: readers see the old content or the new, never half."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      yield f
      f.flush(); os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    Path(tmp).unlink(missing_ok=True)
    raise

def atomic_write(path: Path, data: str | bytes):
  with atomic_file(path) as f: f.write(data.encode() if isinstance(data, str) else data)

def save_figure(fig, path: Path, dpi: int) -> Path:
  """Lays a matplotlib figure out (tight, unless it brought its own layout engine), writes it atomically and closes it."""
  import matplotlib.pyplot as plt
  if fig.get_layout_engine() is None: fig.tight_layout()
  fmt = Path(path).suffix.lstrip(".")
  with atomic_file(path) as f: fig.savefig(f, dpi=dpi, format=fmt, metadata={"Software": None} if fmt == "png" else None)  # no version tag: same data, same bytes
  plt.close(fig)
  return Path(path)

def file_sha256(path: Path) -> str:
  """sha256 of a file, cached by path, size and mtime (hashing an 8B model takes tens of seconds)."""
  st = Path(path).stat()
  key = hashlib.sha256(f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:32]
  memo = CACHE / "sha256" / key
  if memo.is_file(): return memo.read_text().strip()
  h = hashlib.sha256()
  with open(path, "rb") as f:
    while chunk := f.read(1 << 24): h.update(chunk)
  atomic_write(memo, h.hexdigest())
  return h.hexdigest()
