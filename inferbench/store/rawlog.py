"""The one raw-log format every backend writes, and the one parser that reads it.

A log is UTF-8 text, written line by line as the run happens; lines end with "\\n" and nothing else:

  # inferbench raw log                      <- magic line
  schema: 2
  key: value                                <- header: how, on what, with which versions
  ...
  step {"run": 0, "phase": "prefill", ...}  <- one JSON object per timed step
  run {"run": 0, "internal_decode_ms": ...} <- per-run totals a backend reports about itself; the last run's
                                               stopped_by says why measuring stopped (runs, target met, a cap spent)
  status: ok | failed: reason               <- always last; a log without it was cut short

Schema 2 writes header and status values as the contents of a JSON string (escapes, no quotes), and escapes in
step and run lines every character str.splitlines breaks on, so no value can break a line. Schema 1 (the same,
with raw header values) is still read.

Every field is declared below (STEP, RUN, HEADER: type and least value; numbers finite), and each run must hold
exactly its steps (0..n_decode_steps, or 0..n_token_chunks-1 for a serving request) with a run line that agrees.
Step lines are decoded in bulk by pyarrow.json against the declared schema and range-checked as columns; a file
that fails there is read again line by line to name the line and field. parse() raises LogError, and only
LogError, for anything else.
"""
from __future__ import annotations
import functools, itertools, json, math, os, re, stat
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
import numpy as np
from inferbench.core.files import named

MAGIC = "# inferbench raw log"
SCHEMA = 2
PHASES = ("prefill", "decode")
SERVING = ("endpoint", "in-process")  # header `mode` of serving.py's logs: each run is one streamed request
_KEY = re.compile(r"^[a-z][a-z0-9_.]*$")

class LogError(Exception):
  """A file that is not a complete, well-formed raw log. Carries the file and line (0: the file as a whole)."""
  def __init__(self, path: Path, line: int, why: str):
    super().__init__(f"{path}:{line}: {why}" if line else f"{path}: {why}")
    self.path, self.line, self.why = path, line, why

# ---- the declared schema

@dataclass(frozen=True)
class Field:
  kind: type                # int, float, str or bool; a float field takes an int too
  lo: float | None = 0      # least value of a number (None: any); numbers are always finite, ints fit int64
  null: bool = False        # may be null or absent (a header key: absent or blank)
  choices: tuple = ()       # the only values a string may take
  pattern: str = ""         # a regex a string must match whole

COUNT, OPT_COUNT, OPT_MS = Field(int), Field(int, null=True), Field(float, null=True)
STEP = {"run": COUNT, "phase": Field(str, choices=PHASES), "step": COUNT, "position": COUNT, "n_tokens": Field(int, lo=1),
        "token_id": OPT_COUNT,                    # null: a server's stream has no ids
        "token_ids": Field(list, null=True),      # batch > 1: every sequence's token (token_id is the first's)
        "enqueue_latency_ms": Field(float), "total_latency_ms": Field(float),
        "bytes_read": OPT_COUNT,                  # the backend's own counter, where it has one
        "min_bytes_read": OPT_COUNT,              # the model geometry's lower bound (absent in serving logs)
        "text": Field(str)}                       # the text so far; in a serving log (SERVING) the step's own piece
@functools.cache
def step_schema():
  """STEP as an Arrow schema. pyarrow is imported only to read logs: a worker that only writes one keeps its memory
  (pyarrow's import alone maps 160 MiB of address space, which counts against a --memory-limit under RLIMIT_AS)."""
  import pyarrow as pa
  arrow = {int: pa.int64(), float: pa.float64(), str: pa.string(), bool: pa.bool_(), list: pa.list_(pa.int64())}
  return pa.schema([(k, arrow[f.kind]) for k, f in STEP.items()])
def _types(f: Field) -> set[type]: return {f.kind} | ({int} if f.kind is float else set()) | ({type(None)} if f.null else set())
STEP_TYPES = frozenset(itertools.product(*map(_types, STEP.values())))  # the Python types of a decoded step's values, in order
# run lines: what a backend or a serving request reports about one run. Other keys may follow, as JSON scalars.
RUN = {"run": COUNT, "internal_prefill_ms": OPT_MS, "internal_decode_ms": OPT_MS, "internal_prefill_tokens": OPT_COUNT,
       "internal_decode_steps": OPT_COUNT, "start_ms": OPT_MS, "headers_ms": OPT_MS, "e2e_latency_ms": OPT_MS,
       "n_token_chunks": OPT_COUNT, "usage_prompt_tokens": OPT_COUNT, "usage_completion_tokens": OPT_COUNT,
       "usage_source": Field(str, null=True), "tokens_match": Field(bool, null=True), "finish_reason": Field(str, null=True),
       "error": Field(str, null=True), "peak_rss_bytes": OPT_COUNT, "peak_device_bytes": OPT_COUNT,
       "scheduled_ms": OPT_MS, "server_queue_ms": OPT_MS, "itl_mean_ms": OPT_MS, "meets_slo": Field(bool, null=True),
       "usage_cached_tokens": OPT_COUNT, "cache_hit": Field(bool, null=True),  # a serving request's prompt-cache use, where the server says
       "prompt_tokens": OPT_COUNT, "prompt_sha256": Field(str, null=True),  # its prompt, as the client sent it
       "send_lag_ms": Field(float, null=True),  # open loop: how late the request left against its scheduled arrival
       "client_cpu_s": Field(float, null=True),  # the client's CPU seconds since its load level began, when the request ended
       "recompiles": OPT_COUNT,  # graphs a compiled backend (PyTorch's torch.compile) compiled during the run: 0 unless a guard failed
       "stopped_by": Field(str, null=True),  # the last run of a worker's log: why it measured no more (worker.stopping)
       "other_cpu_share": Field(float, null=True),  # measure/contention.py: the share of its CPUs other work kept busy during the run
       # measure/energy.py: joules of the run and of its decode steps by the GPU's and CPU's counters, over windows of these seconds
       **{k: OPT_MS for k in ("energy_s", "decode_energy_s", "gpu_energy_j", "gpu_decode_energy_j", "cpu_energy_j", "cpu_decode_energy_j")}}
# header keys whose values are read as more than text; every other key is free text
POSITIVE, OPT_S = Field(int, lo=1, null=True), Field(float, null=True)
HEADER = {"schema": Field(int, lo=1), "backend": Field(str, pattern=r"[a-z][a-z0-9_]*"),
          "uuid": Field(str, pattern=r"[A-Za-z0-9_-]{1,64}"), "mode": Field(str, null=True, choices=SERVING),
          "seed": Field(int, lo=None, null=True), "threads": POSITIVE, "n_prompt_tokens": POSITIVE, "n_decode_steps": POSITIVE,
          "runs": POSITIVE, "warmup": OPT_COUNT, "requests": POSITIVE, "concurrency": POSITIVE, "batch": POSITIVE, "ctx": POSITIVE,
          "request_rate": OPT_S, "duration_s": OPT_S, "slo_ttft_ms": OPT_S, "slo_itl_ms": OPT_S,
          "min_seconds": OPT_S, "temperature": OPT_S, "roofline_gb_s": OPT_S, "compute_gflop_s": OPT_S, "n_params": OPT_COUNT, "model_bytes": OPT_COUNT,
          "target_ci_pct": OPT_S, "max_runs": POSITIVE, "max_seconds": OPT_S,  # --target-ci's, where one was asked
          "bits_per_weight": OPT_S, "prepare_seconds": OPT_S, "load_seconds": OPT_S, "compile_seconds": OPT_S,
          "warmup_seconds": OPT_S, "predicted_bytes": OPT_COUNT, "memory_limit_bytes": OPT_COUNT, "cpu_count": POSITIVE,
          "mem_total_gib": OPT_S, "n_layers": OPT_COUNT, "n_kv_heads": OPT_COUNT, "head_dim": OPT_COUNT,
          "tied_embeddings": OPT_COUNT, "n_prompt_tokens_server": OPT_COUNT, "reference_completion_tokens": OPT_COUNT}

INT64 = 2**63 - 1
BISECT_LINES = 4096    # in a log of more step lines than this, pyarrow finds the first bad one (each try costs ~1 ms)
MAX_DEPTH = 32         # JSON nesting, bounded before json.loads recurses (step and run values are flat)
MAX_NUMBER_CHARS = 64  # a number's text, bounded before it is converted: int64 needs 20, a float's repr 24
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_LONG = re.compile(r"[0-9]{%d}" % MAX_NUMBER_CHARS)
_EXACT = re.compile(r"[0-9]{19}|\\u[dD][89a-fA-F]")  # a number that may not fit int64, a surrogate escape: checked value by value

class _Bad(Exception): """One value's fault; the line reader adds the file and line."""

@dataclass(frozen=True)
class _Huge:
  """A number too long to convert: its text is measured before int() or float() would see it."""
  chars: int

def _int(text: str) -> int | _Huge: return _Huge(len(text)) if len(text) > MAX_NUMBER_CHARS else int(text)
def _float(text: str) -> float | _Huge: return _Huge(len(text)) if len(text) > MAX_NUMBER_CHARS else float(text)

def _check(key: str, v, f: Field):
  """v, decoded, against its declaration."""
  if v is None:
    if f.null: return
    raise _Bad(f"{key} is missing or null")
  if isinstance(v, _Huge): raise _Bad(f"{key} is a number of {v.chars:,} characters")
  ok = isinstance(v, f.kind) and not (isinstance(v, bool) and f.kind is not bool) or (f.kind is float and type(v) is int)
  if not ok: raise _Bad(f"{key} is {type(v).__name__} {_short(v)}, not {f.kind.__name__}")
  if f.kind is float and not math.isfinite(v): raise _Bad(f"{key} is not a finite number")
  if f.kind is list and not all(type(x) is int and 0 <= x <= INT64 for x in v): raise _Bad(f"{key} is {_short(v)}, not a list of token ids")
  if f.kind is int and abs(v) > INT64: raise _Bad(f"{key} is {v}, out of range")
  if f.kind in (int, float) and f.lo is not None and v < f.lo: raise _Bad(f"{key} is {v}, below {f.lo}")
  if f.choices and v not in f.choices: raise _Bad(f"{key} is {_short(v)}, not one of {', '.join(f.choices)}")
  if f.pattern and not re.fullmatch(f.pattern, v): raise _Bad(f"{key} is {_short(v)}, not a {key} ({f.pattern})")

SCALAR = {str: Field(str), bool: Field(bool), int: Field(int, lo=None)}  # a run line's other keys: JSON scalars (else a float)

def _short(v) -> str: return repr(v)[:40]

def _unique(pairs: list) -> dict:
  if len(d := dict(pairs)) < len(pairs): raise _Bad(f"key {_short(next(k for i, (k, _) in enumerate(pairs) if k in dict(pairs[:i])))} twice")
  return d

def _string_ok(s: str) -> str:
  try: s.encode("utf-8")
  except UnicodeEncodeError: raise _Bad("a lone surrogate escape (\\ud800..\\udfff), not Unicode text") from None
  return s

def _depth(text: str) -> int:
  """How deep the brackets outside strings nest, counted before json.loads would recurse that deep."""
  if text.count("[") + text.count("{") <= MAX_DEPTH: return 0  # cannot nest deeper than it has brackets
  b = np.frombuffer(_STRING.sub("", text).encode(), np.uint8)
  return int(np.cumsum(np.isin(b, (ord("{"), ord("["))).astype(np.int64) - np.isin(b, (ord("}"), ord("]")))).max(initial=0))

def _object(text: str, fields: dict[str, Field], extra: bool) -> dict:
  """One step or run line's JSON: flat, checked against fields. Depth and number sizes are bounded before decoding."""
  if (depth := _depth(text)) > MAX_DEPTH: raise _Bad(f"JSON nested {depth:,} deep (at most {MAX_DEPTH})")
  exact = _EXACT.search(text)
  try: obj = json.loads(text) if not (exact and _LONG.search(text)) else None  # the C decoder alone, where no number can be too long
  except json.JSONDecodeError: obj = None
  if isinstance(obj, dict) and text.count('": ') == len(obj):  # no key twice
    if fields is STEP and not exact and obj.keys() <= STEP.keys() and tuple(map(type, map(obj.get, STEP))) in STEP_TYPES:
      return obj  # every value of its declared type; the ranges are checked on the columns
  else:  # the hooks, which see keys given twice and measure numbers before converting them
    try: obj = json.loads(text, object_pairs_hook=_unique, parse_int=_int, parse_float=_float, parse_constant=float)
    except json.JSONDecodeError as e: raise _Bad(f"not valid JSON ({e.msg} at column {e.colno})") from None
  if not isinstance(obj, dict): raise _Bad("not a JSON object")
  for k, v in obj.items():
    if k not in fields:
      if not extra: raise _Bad(f"unknown field {_short(k)}")
      if v is not None: _check(k, v, SCALAR.get(type(v), Field(float, lo=None)))
    if isinstance(v, str): _string_ok(v)
  for k, f in fields.items():
    _check(k, obj.get(k), f)
    if f.kind is float and type(obj.get(k)) is int: obj[k] = float(obj[k])  # an int too long for int64 is still a float
  return obj

def _header_value(raw: str, schema: int) -> str:
  if schema == 1: return raw
  try: return _string_ok(json.loads(f'"{raw}"'))
  except json.JSONDecodeError as e: raise _Bad(f"the value is not JSON-escaped text ({e.msg})") from None

# ---- writing

_BREAKS = re.compile("[\x85\u2028\u2029\ud800-\udfff]")  # what JSON leaves raw that str.splitlines breaks on, and lone surrogates

def _escape(m: re.Match) -> str:
  c = m.group()
  return "\ufffd" if "\ud800" <= c <= "\udfff" else f"\\u{ord(c):04x}"  # a lone surrogate cannot be UTF-8: U+FFFD

def dump_json(obj) -> str: return _BREAKS.sub(_escape, json.dumps(obj, ensure_ascii=False, separators=(", ", ": ")))
def dump_value(v) -> str: return dump_json(str(v))[1:-1]  # a JSON string's contents: one line, read back exactly

class LogWriter:
  """Appends to a new log, flushing every line so a crash loses at most the line being written. A write that fails
  (a full disk) raises an OSError that names the log."""
  def __init__(self, path: Path):
    self.path = Path(path)
    self.f = open(self.path, "x", encoding="utf-8", newline="\n")  # "x": never overwrite an existing log
    self._put(f"{MAGIC}\nschema: {SCHEMA}\n")

  def header(self, md: dict):
    for k in md: assert _KEY.match(k), f"bad header key {k!r}"
    self._put("".join(f"{k}: {dump_value(v)}\n" for k, v in md.items()))

  def step(self, **step): self._put(f"step {dump_json(step)}\n")
  def run(self, **totals): self._put(f"run {dump_json(totals)}\n")
  def _put(self, text: str, sync: bool = False):
    try:
      self.f.write(text)
      self.f.flush()
      if sync: os.fsync(self.f.fileno())
    except OSError as e: raise named(e, self.path) from None

  def close(self, status: str = "ok"):
    try: self._put(f"status: {dump_value(status)}\n", sync=True)
    finally:
      try: self.f.close()
      except OSError: pass  # what it could not write, the _put above said

def append_status(path: Path, status: str):
  """Ends a log whose writer died (the parent process records why its child failed). A log that already ends
  with a status keeps it; a line the writer left half-written is ended first, so the status stands on its own."""
  with open(path, "rb") as f:
    f.seek(max(0, os.fstat(f.fileno()).st_size - 4096))
    tail = f.read()
  if tail.endswith(b"\n") and tail[:-1].rsplit(b"\n", 1)[-1].startswith(b"status: "): return
  with open(path, "a", encoding="utf-8", newline="\n") as f:
    f.write(("\n" if tail and not tail.endswith(b"\n") else "") + f"status: {dump_value(status)}\n")

# ---- reading

@dataclass
class Log:
  path: Path
  header: dict[str, str]          # every value as text
  table: pa.Table                 # the steps in file order, one column per STEP field
  runs: list[dict] = field(default_factory=list)
  status: str = ""
  header_lines: dict[str, int] = field(default_factory=dict)  # header key -> its line

  @property
  def ok(self) -> bool: return self.status == "ok"
  @cached_property
  def steps(self) -> list[dict]: return self.table.to_pylist()

def _read(path: Path) -> bytes:
  """The file's bytes; only a regular file is opened (a FIFO would block, a directory cannot be read)."""
  try: st = os.stat(path)
  except OSError as e: raise LogError(path, 0, f"cannot be read ({e.strerror}{': a dangling symlink' if os.path.islink(path) else ''})") from None
  if not stat.S_ISREG(st.st_mode):
    kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file"
    raise LogError(path, 0, f"{kind}, not a log file")
  try:
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:  # never blocks, should a FIFO take the file's place meanwhile
      if not stat.S_ISREG(os.fstat(f.fileno()).st_mode): raise LogError(path, 0, "not a regular file")
      return f.read()
  except OSError as e: raise LogError(path, 0, f"cannot be read ({e.strerror})") from None

def _text(path: Path, n: int, line: bytes) -> str:
  try: return line.decode()
  except UnicodeDecodeError as e: raise LogError(path, n, f"not UTF-8 text (byte {e.start + 1} of the line), so not an inferbench log") from None

def parse(path: Path) -> Log:
  """Parses and validates one log. Raises LogError naming the line and field for a foreign, malformed, inconsistent
  or truncated file, and no other exception."""
  path = Path(path)
  data = _read(path)
  if not data.startswith(MAGIC.encode() + b"\n"): raise LogError(path, 1, f"no '{MAGIC}' first line, so not an inferbench log")
  if not data.endswith(b"\n"): raise LogError(path, data.count(b"\n") + 1, "the last line has no line break: the run was cut short (or is still running)")
  header, lines, pos, n, schema = {}, {}, len(MAGIC) + 1, 2, 1  # the header: the lines before the first record
  while (end := data.find(b"\n", pos)) >= 0 and not data.startswith((b"step ", b"run ", b"status: "), pos):
    line = _text(path, n, data[pos:end])
    key, sep, value = line.partition(": ")
    if not sep and line.endswith(":"): key, sep = line[:-1], ":"
    if not sep or not _KEY.match(key): raise LogError(path, n, f"neither 'key: value', step, run nor status: {line[:60]!r}")
    if key in header: raise LogError(path, n, f"header key {key!r} twice (first on line {lines[key]})")
    try: header[key], lines[key] = _header_value(value, schema), n
    except _Bad as e: raise LogError(path, n, f"{key}: {e}") from None
    if n == 2 and key == "schema" and header[key] in ("1", "2"): schema = int(header[key])
    pos, n = end + 1, n + 1
  if lines.get("schema") != 2 or header["schema"] not in ("1", "2"):
    raise LogError(path, 2, f"schema {header.get('schema')!r} on line {lines.get('schema')}: this inferbench reads schemas 1 and 2 on line 2")
  try: _typed_header(header)
  except _Bad as e: raise LogError(path, lines.get(e.args[1], 0), e.args[0]) from None
  last = data.rfind(b"\n", 0, len(data) - 1) + 1  # the status: the last line, after the records
  if not (last >= pos and data.startswith(b"status: ", last)):
    return _by_line(path, data, pos, n, header, lines, schema)  # it names what is wrong there
  raw = data[last + len(b"status: "):-1]  # its line number is counted only for a message
  try: status = _header_value(raw.decode(), schema) or "failed: empty status"
  except UnicodeDecodeError: _text(path, data.count(b"\n"), raw)
  except _Bad as e: raise LogError(path, data.count(b"\n"), f"status: {e}") from None
  return _in_bulk(path, data, pos, last, n, header, lines, status) or _by_line(path, data, pos, n, header, lines, schema)

def _typed_header(header: dict[str, str]):
  for k, f in HEADER.items():
    v = header.get(k, "")
    try:
      if v == "":
        if not f.null: raise _Bad(f"the header has no {k}")
      elif f.kind in (int, float):
        if not (_INT if f.kind is int else _FLOAT).fullmatch(v): raise _Bad(f"{k} is {_short(v)}, not {f.kind.__name__}")
        _check(k, (_int if f.kind is int else _float)(v), f)
      else: _check(k, v, f)
    except _Bad as e: raise _Bad(f"header: {e}", k) from None

STEP_, RUN_ = (np.frombuffer(t, np.uint8) for t in (b"step ", b"run "))

def _in_bulk(path, data: bytes, start: int, end: int, first: int, header, lines, status) -> Log | None:
  """The records between byte start and the status line at end, step lines decoded by pyarrow in one go.
  None where the bytes are not plainly step and run lines: the line-by-line reader then names the bad one."""
  n = end - start  # "\n" + the record lines, copied once into a buffer made JSON lines in place: "step " and run lines become blanks
  region = bytearray(n + 8)  # 8 bytes to spare: every line's first 5 bytes can be looked at
  region[:n] = memoryview(data)[start - 1:end - 1]
  b = np.frombuffer(region, np.uint8)
  starts = np.flatnonzero(b[:n] == ord("\n")) + 1  # line i is b[starts[i]:ends[i]]
  ends = np.r_[starts[1:] - 1, n]
  prefix = b[starts[:, None] + np.arange(5)]
  is_step, is_run = (prefix == STEP_).all(1), (prefix[:, :4] == RUN_).all(1)
  if not (is_step | is_run).all(): return None  # a line that is neither step nor run
  runs = []
  for i in np.flatnonzero(is_run):
    try: runs.append(_object(bytes(region[starts[i] + 4:ends[i]]).decode(), RUN, extra=True))
    except (_Bad, UnicodeDecodeError): return None
    b[starts[i]:ends[i]] = ord(" ")  # pyarrow skips a blank line
  step_at = np.flatnonzero(is_step)
  b[(starts[step_at, None] + np.arange(5)).ravel()] = ord(" ")  # JSON may start after blanks
  step_line, n_steps = step_at + first, len(step_at)
  import pyarrow as pa
  steps = pa.py_buffer(region)[:n]
  table = _steps(steps) if n_steps else step_schema().empty_table()
  if table is None and n_steps < BISECT_LINES: return None
  if table is None:  # the first line pyarrow rejects, found by bisection, is named by the line reader's checks
    lo, hi = 0, n_steps - 1
    while lo < hi:
      mid = (lo + hi) // 2
      if _steps(steps[:ends[step_at[mid]]]) is None: hi = mid
      else: lo = mid + 1
    try: _object(_text(path, int(step_line[lo]), bytes(region[starts[step_at[lo]] + 5:ends[step_at[lo]]])), STEP, extra=False)
    except _Bad as e: raise LogError(path, int(step_line[lo]), f"step: {e}") from None
    return None  # pyarrow and the line reader disagree on that line: read them all one by one
  if table.num_rows != n_steps: return None  # two objects on one line
  return _validate(path, header, lines, table, step_line, runs, np.flatnonzero(is_run) + first, status)

def _steps(buf) -> pa.Table | None:
  """Step lines' JSON ("\n{...}" each), decoded against step_schema(); None where pyarrow rejects them."""
  import pyarrow as pa, pyarrow.json as pj
  try:
    table = pj.read_json(pa.BufferReader(buf), read_options=pj.ReadOptions(use_threads=False, block_size=min(len(buf) + 1, 1 << 30)),
                         parse_options=pj.ParseOptions(explicit_schema=step_schema(), unexpected_field_behavior="error"))
    table.column("text").validate(full=True)  # pyarrow takes JSON strings' bytes as they are: UTF-8 is checked here
    return table
  except (pa.ArrowInvalid, pa.ArrowNotImplementedError): return None

def _by_line(path, data: bytes, start: int, first: int, header, lines, schema) -> Log:
  """The records one line at a time, so the first bad one is named exactly."""
  steps, step_line, runs, run_line, status = [], [], [], [], ""
  raw = data[start:-1].split(b"\n") if len(data) > start else []
  for n, line in enumerate(raw, start=first):
    if status: raise LogError(path, n, "text after the final status line")
    text = _text(path, n, line)
    kind, _, rest = text.partition(" ")
    try:
      if kind == "step": steps.append(_object(rest, STEP, extra=False)); step_line.append(n)
      elif kind == "run": runs.append(_object(rest, RUN, extra=True)); run_line.append(n)
      elif kind == "status:": status = _header_value(rest, schema) or "failed: empty status"
      elif _KEY.match(kind.removesuffix(":")): raise _Bad(f"header key {kind.removesuffix(':')!r} after the first step")
      else: raise _Bad(f"neither 'key: value', step, run nor status: {text[:60]!r}")
    except _Bad as e: raise LogError(path, n, f"{kind.removesuffix(':') if kind in ('step', 'run', 'status:') else 'line'}: {e}") from None
  if not status: raise LogError(path, first + len(raw) - 1, "no final status line: the run was cut short (or is still running)")
  import pyarrow as pa
  table = pa.Table.from_pylist(steps, schema=step_schema())
  return _validate(path, header, lines, table, np.array(step_line, np.int64), runs, np.array(run_line, np.int64), status)

# ---- the rules across fields, lines and runs, checked on whole columns

def _validate(path, header, lines, table: pa.Table, step_line: np.ndarray, runs: list[dict], run_line: np.ndarray, status: str) -> Log:
  import pyarrow as pa, pyarrow.compute as pc
  def fail(mask, why: str):
    if (bad := np.flatnonzero(mask)).size: raise LogError(path, int(step_line[bad[0]]), f"step: {why}")
  col = {k: table.column(k) for k in STEP}
  num = {k: col[k].to_numpy() for k in STEP if STEP[k].kind in (int, float)}  # an int column with nulls comes as float, NaN
  for k, f in STEP.items():  # the declarations, a column at a time
    if not f.null: fail(col[k].is_null().to_numpy(), f"{k} is missing or null")
    if f.kind is float: fail(~np.isfinite(num[k]), f"{k} is not a finite number")
    if f.kind in (int, float) and f.lo is not None: fail(np.nan_to_num(num[k], nan=f.lo) < f.lo, f"{k} is below {f.lo}")
    if f.choices: fail(~pc.is_in(col[k], pa.array(f.choices)).to_numpy(), f"{k} is not one of {', '.join(f.choices)}")
    if f.kind is list and len(ids := pc.list_flatten(col[k])):  # token ids are counts too: a negative one names its step
      bad = np.zeros(table.num_rows, bool)
      bad[pc.list_parent_indices(col[k]).to_numpy()[ids.to_numpy() < 0]] = True
      fail(bad, f"{k} holds a negative token id")
  run, step, pos, ntok = (num[k].astype(np.int64) for k in ("run", "step", "position", "n_tokens"))
  prefill = pc.equal(col["phase"], "prefill").to_numpy()
  fail(prefill != (step == 0), "phase must be prefill at step 0, and decode after it")
  fail(num["enqueue_latency_ms"] > num["total_latency_ms"], "enqueue_latency_ms exceeds total_latency_ms")
  # each run's steps are 0..k, none twice: sorted by (run, step), each step's number is its index within its run
  order = np.lexsort((step, run))
  r, s = run[order], step[order]
  start = np.flatnonzero(np.r_[True, r[1:] != r[:-1]]) if len(r) else np.zeros(0, np.int64)
  size = np.diff(np.r_[start, len(r)])
  index = np.arange(len(r)) - np.repeat(start, size)
  if (bad := np.flatnonzero(s != index)).size:
    i = bad[0]
    twice = i and r[i - 1] == r[i] and s[i - 1] == s[i]
    raise LogError(path, int(step_line[order[i]]), f"step: run {r[i]} has step {s[i]} twice" if twice else f"step: run {r[i]} lacks step {index[i]}")
  ids, first_line, prefill_tokens = r[start].tolist(), step_line[order[start]], ntok[order[start]]
  serving, batch = header.get("mode") in SERVING, int(header.get("batch") or 1)
  if len(r) and not serving:
    for k in ("n_prompt_tokens", "n_decode_steps"):
      if not header.get(k): raise LogError(path, 0, f"header: the header has no {k}, which steps need")
  # decode step i reads position (prompt length) + i - 1; a server's logs take the prompt length it reported
  prompt = np.repeat(prefill_tokens, size)[np.argsort(order)] if serving else int(header.get("n_prompt_tokens") or 0)
  fail(prefill & (pos != 0), "a prefill's position must be 0")
  fail(~prefill & (pos != prompt + step - 1), "a decode step's position must be the prompt's length + step - 1")
  if not serving: fail(prefill & (ntok != batch * prompt), "a prefill's n_tokens must be n_prompt_tokens (x batch)")
  fail(~prefill & (ntok != (1 if serving else batch)), "a decode step's n_tokens must be 1 (the batch, where batched)")
  # the run lines: one per run, agreeing with its steps
  count = dict(zip(ids, size.tolist()))
  agree = dict(zip(ids, zip(size.tolist(), (size - 1).tolist(), prefill_tokens.tolist())))
  seen: dict[int, int] = {}
  for obj, n in zip(runs, run_line.tolist()):
    k = obj["run"]
    if k in seen: raise LogError(path, n, f"run: run {k} has a second run line (the first is line {seen[k]})")
    seen[k] = n
    if k not in count and not (serving and obj.get("n_token_chunks") == 0): raise LogError(path, n, f"run: run {k} has no step lines")
    for key, want in zip(("n_token_chunks", "internal_decode_steps", "internal_prefill_tokens"), agree.get(k, (0, 0, None))):
      if obj.get(key) is not None and want is not None and obj[key] != want:
        raise LogError(path, n, f"run: {key} is {obj[key]}, but run {k}'s step lines say {want}")
  n_decode = int(header.get("n_decode_steps") or 0)
  if status == "ok":
    if not (all_ids := sorted(set(count) | set(seen))): raise LogError(path, 0, "status ok, but the log has no run")
    if all_ids != list(range(len(all_ids))): raise LogError(path, 0, f"runs {', '.join(map(str, all_ids[:4]))}...: not numbered 0..{len(all_ids) - 1}")
    for j, k in enumerate(ids):
      if k not in seen: raise LogError(path, int(first_line[j]), f"step: run {k} has no run line, yet the status is ok")
      if not serving and count[k] != n_decode + 1:
        raise LogError(path, seen[k], f"run: run {k} has {count[k]} step lines, a complete run has n_decode_steps + 1 = {n_decode + 1}")
    if (want := header.get("requests" if serving else "runs")) and (len(all_ids) != int(want) if serving else len(all_ids) < int(want)):
      raise LogError(path, lines["requests" if serving else "runs"], f"status ok with {len(all_ids)} runs, but the header says {want}")
  elif not serving and (bad := np.flatnonzero(size > n_decode + 1)).size:
    raise LogError(path, int(first_line[bad[0]]), f"step: run {ids[bad[0]]} has {size[bad[0]]} steps, more than n_decode_steps + 1")
  return Log(path, header, table, runs, status, lines)
