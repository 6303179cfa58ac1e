"""The one raw-log format every backend writes, and the one parser that reads it.

A log is plain text, written line by line as the run happens:

  # inferbench raw log                      <- magic line
  schema: 1
  key: value                                <- header: how, on what, with which versions
  ...
  step {"run": 0, "phase": "prefill", ...}  <- one JSON object per timed step
  run {"run": 0, "internal_decode_ms": ...} <- per-run totals a backend reports about itself
  status: ok | failed: reason               <- always last; a log without it was cut short
"""
from __future__ import annotations
import json, os, re
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = "# inferbench raw log"
SCHEMA = 1
STEP_KEYS = ("run", "phase", "step", "position", "n_tokens", "token_id", "enqueue_latency_ms", "total_latency_ms", "text")
_KEY = re.compile(r"^[a-z][a-z0-9_.]*$")

class LogError(Exception):
  """A file that is not a complete, well-formed raw log. Carries the file and line."""
  def __init__(self, path: Path, line: int, why: str):
    super().__init__(f"{path}:{line}: {why}")
    self.path, self.line, self.why = path, line, why

def _one_line(value) -> str: return str(value).replace("\r", " ").replace("\n", " ")

class LogWriter:
  """Appends to a new log, flushing every line so a crash loses at most the line being written."""
  def __init__(self, path: Path):
    self.path = Path(path)
    self.f = open(self.path, "x", encoding="utf-8")  # "x": never overwrite an existing log
    self.f.write(f"{MAGIC}\nschema: {SCHEMA}\n")
    self.f.flush()

  def header(self, md: dict):
    for k, v in md.items():
      assert _KEY.match(k), f"bad header key {k!r}"
      self.f.write(f"{k}: {_one_line(v)}\n")
    self.f.flush()

  def step(self, **step): self._record("step", step)
  def run(self, **totals): self._record("run", totals)
  def _record(self, kind: str, obj: dict):
    self.f.write(f"{kind} {json.dumps(obj, ensure_ascii=False, separators=(', ', ': '))}\n")
    self.f.flush()

  def close(self, status: str = "ok"):
    self.f.write(f"status: {_one_line(status)}\n")
    self.f.flush()
    os.fsync(self.f.fileno())
    self.f.close()

def append_status(path: Path, status: str):
  """Ends a log whose writer died (the parent process records why its child failed)."""
  with open(path, "a", encoding="utf-8") as f: f.write(f"status: {_one_line(status)}\n")

@dataclass
class Log:
  path: Path
  header: dict[str, str]
  steps: list[dict] = field(default_factory=list)
  runs: list[dict] = field(default_factory=list)
  status: str = ""

  @property
  def ok(self) -> bool: return self.status == "ok"

def parse(path: Path) -> Log:
  """Parses one log. Raises LogError naming the line for a foreign, malformed or truncated file."""
  path = Path(path)
  try: lines = path.read_text(encoding="utf-8").splitlines()
  except UnicodeDecodeError: raise LogError(path, 1, "not UTF-8 text, so not an inferbench log")
  if not lines or lines[0] != MAGIC: raise LogError(path, 1, f"no '{MAGIC}' first line, so not an inferbench log")
  log = Log(path, {})
  for n, line in enumerate(lines[1:], start=2):
    if log.status: raise LogError(path, n, "text after the final status line")
    kind, _, rest = line.partition(" ")
    if kind in ("step", "run"):
      try: obj = json.loads(rest)
      except json.JSONDecodeError as e: raise LogError(path, n, f"{kind} line is not valid JSON ({e.msg})")
      if not isinstance(obj, dict): raise LogError(path, n, f"{kind} line is not a JSON object")
      if kind == "step":
        if missing := [k for k in STEP_KEYS if k not in obj]: raise LogError(path, n, f"step line lacks {', '.join(missing)}")
        if not 0 <= obj["enqueue_latency_ms"] <= obj["total_latency_ms"]:
          raise LogError(path, n, "step latencies must satisfy 0 <= enqueue_latency_ms <= total_latency_ms")
      (log.steps if kind == "step" else log.runs).append(obj)
      continue
    key, sep, value = line.partition(": ")
    if not sep and line.endswith(":"): key, sep, value = line[:-1], ":", ""
    if not sep or not _KEY.match(key): raise LogError(path, n, f"neither 'key: value', step, run nor status: {line[:60]!r}")
    if key == "status": log.status = value or "failed: empty status"
    elif log.steps or log.runs: raise LogError(path, n, f"header key {key!r} after the first step")
    else: log.header[key] = value
  if log.header.get("schema") != str(SCHEMA):
    raise LogError(path, 2, f"schema {log.header.get('schema')!r}, this inferbench reads schema {SCHEMA}")
  if not log.status: raise LogError(path, len(lines), "no final status line: the run was cut short (or is still running)")
  return log
