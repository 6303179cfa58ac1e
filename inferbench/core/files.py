"""Where files live and how they are written: atomically, so that a reader sees the old content or the new, never half."""
from __future__ import annotations
import errno, fcntl, hashlib, mmap, os, tempfile
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import BinaryIO, Iterator

ROOT = Path(__file__).resolve().parents[2]  # the repository: its models/ cache, presentation.typ, the default folders
CACHE = Path(os.environ.get("INFERBENCH_MODELS", ROOT / "models"))

FULL = "no space left on the disk"  # what every full-disk message says: a run of many configurations stops at it

def full(e: BaseException) -> bool:
  """Whether e is a write that found the disk (or the user's quota) full."""
  return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)

def named(e: OSError, path: Path) -> OSError:
  """e, saying which file it was writing (a failed write to an open file names none)."""
  return OSError(e.errno, e.strerror, str(path)) if e.errno and not e.filename else e

def cannot_write(e: OSError, path: Path | None = None) -> str:
  """One line on a failed write: on a full disk, which one, how much is left there, and the way out."""
  path = Path(path or e.filename or "?")
  if not full(e): return f"cannot write {path}: {e.strerror or e}"
  from inferbench.core.names import format_size
  mount = Path(os.path.abspath(path))
  while not os.path.ismount(mount): mount = mount.parent
  st = os.statvfs(mount)
  return f"{path}: {FULL} at {mount} ({format_size(st.f_bavail * st.f_frsize)} free of {format_size(st.f_blocks * st.f_frsize)}): free some space there, then run it again"

_TOGETHER: ContextVar[list | None] = ContextVar("together", default=None)  # the files written inside together(), not yet in place

@contextmanager
def together() -> Iterator[None]:
  """The files atomic_file writes in this block take their places when it ends: all of them, or (it raised) none."""
  pending: list[tuple[str | None, Path]] = []  # (the written temporary file, or None: a file to remove; its path)
  token = _TOGETHER.set(pending)
  try: yield
  except BaseException:
    for tmp, _ in pending:
      if tmp: Path(tmp).unlink(missing_ok=True)
    raise
  finally: _TOGETHER.reset(token)
  for tmp, path in pending:
    if tmp: os.replace(tmp, path)
    else: path.unlink(missing_ok=True)

def discard(path: Path):
  """Removes path: now, or inside together() with the block's files."""
  if (pending := _TOGETHER.get()) is not None: pending.append((None, Path(path)))
  else: Path(path).unlink(missing_ok=True)

DIRECT_BLOCK = 1 << 22  # bytes written at once past the page cache: a multiple of every disk's block size

def _direct(fd: int, on: bool) -> bool:
  """Turns O_DIRECT on or off for fd; whether it is on (a file system such as tmpfs may refuse it)."""
  try: fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_DIRECT | (os.O_DIRECT if on else 0))
  except OSError: return False
  return on

class DirectFile:
  """A large file written in aligned blocks that bypass the page cache (O_DIRECT). Copying a GB into the cache costs
  the kernel about 4 CPU seconds on this VM (`dd bs=16M`: 3.9 s of system time), writing it to the disk directly
  0.2 s. flush() writes what is left the ordinary way, and the file stays ordinary from then on (collate appends
  with copy_file_range after it); so does one whose file system refuses O_DIRECT, or whose disk fills."""
  def __init__(self, fd: int, name: str):
    self.fd, self.name, self.n = fd, name, 0
    self.block = mmap.mmap(-1, DIRECT_BLOCK)  # page-aligned, as O_DIRECT needs
    self.direct = _direct(fd, True)

  def fileno(self) -> int: return self.fd

  def write(self, data) -> int:
    view = memoryview(data).cast("B")
    if not self.direct:
      self._put(view)
      return len(view)
    at = 0
    while at < len(view):
      k = min(DIRECT_BLOCK - self.n, len(view) - at)
      self.block[self.n:self.n + k] = view[at:at + k]
      self.n, at = self.n + k, at + k
      if self.n == DIRECT_BLOCK: self.n = 0; self._put_block(DIRECT_BLOCK)
    return len(view)

  def _put_block(self, n: int): self._put(memoryview(self.block)[:n])

  def _put(self, view: memoryview):
    while len(view):
      try: k = os.write(self.fd, view)
      except OSError as e:
        if not (self.direct and e.errno == errno.EINVAL): raise
        self.direct = _direct(self.fd, False)  # a disk whose blocks O_DIRECT cannot align to: written the ordinary way
        continue
      if self.direct and k < len(view): self.direct = _direct(self.fd, False)  # a short write (the disk fills): the rest unaligned
      view = view[k:]

  def flush(self):
    self.direct = _direct(self.fd, False) if self.direct else False
    n, self.n = self.n, 0
    if n: self._put_block(n)

  def __enter__(self): return self
  def __exit__(self, *exc):
    self.block = None  # unmapped once no view of it is left (a traceback may hold one)
    os.close(self.fd)

@contextmanager
def atomic_file(path: Path, direct: bool = False) -> Iterator[BinaryIO]:
  """A file to write in pieces, in place of path when the block ends: readers see the old content or the new, never half.
  A write that fails (a full disk) leaves the old file as it was and no temporary file, and names path. direct: a large
  file, written past the page cache (DirectFile)."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  try: fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  except OSError as e: raise (named(OSError(e.errno, e.strerror), path) if full(e) else e) from None
  try:
    with DirectFile(fd, tmp) if direct else os.fdopen(fd, "wb") as f:
      yield f
      f.flush(); os.fsync(f.fileno())
    if (pending := _TOGETHER.get()) is not None: pending.append((tmp, path))
    else: os.replace(tmp, path)
  except BaseException as e:
    Path(tmp).unlink(missing_ok=True)
    if full(e): raise named(e, path) from None
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
