"""Raw logs -> one CSV per backend. Every metric is derived here, once, from the raw samples in the logs.

Collating is idempotent and never loses rows: it re-reads every log of the backend, keeps rows already in the CSV
whose log is gone, orders rows by (started_at, uuid, run, step) and replaces the CSV atomically. A bad log is
reported (file:line: why) and left out; the others still collate. Two logs with one uuid are a conflict: the one
the CSV already holds (else the first to start) is collated, the other reported. A CSV that cannot be read back is
moved aside to *.damaged and rebuilt from the logs, with a warning.

Derived columns are computed on whole columns (pyarrow, numpy) and the CSV is written a log at a time, so a
million step rows collate in seconds within a bounded memory.
"""
from __future__ import annotations
import csv, errno, functools, hashlib, io, json, os, sys, time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator
import numpy as np
import pandas as pd
import pyarrow as pa, pyarrow.compute as pc, pyarrow.csv as pcsv
from inferbench.core import cli
from inferbench.core.files import atomic_file, atomic_write, cannot_write
from inferbench.store.rawlog import HEADER, RUN, STEP, Field, Log, LogError, parse

# The seed project's schema, unchanged and first; extra columns follow.
SEED_COLUMNS = ["step", "enqueue_latency_ms", "total_latency_ms", "tokens_per_sec", "memory_throughput_gb_s",
                "param_throughput_gb_s", "generated_text", "platform", "release", "device", "username", "hostname",
                "size", "quantize", "seed", "uuid"]
# a run line's energy (measure/energy.py): joules by counter, whole run and decode steps, and the windows' seconds
ENERGY_RUN = ["energy_s", "decode_energy_s", "gpu_energy_j", "gpu_decode_energy_j", "cpu_energy_j", "cpu_decode_energy_j"]
# Extra columns follow: a step's own first, then its run's, then its log's, so that the cells a log's rows share sit
# together (the writer renders them once per log).
EXTRA_COLUMNS = ["phase", "run", "position", "n_step_tokens", "token_id", "min_bytes_read", "bytes_read", "memory_bytes_source",
                 # per run, from its run line: a backend's own timers, a serving request's, the run's peak memory
                 "internal_run_prefill_ms", "internal_run_decode_ms", "request_start_ms", "e2e_latency_ms", "n_token_chunks",
                 "usage_completion_tokens", "tokens_match", "finish_reason", "peak_rss_bytes", "peak_device_bytes",
                 "scheduled_ms", "server_queue_ms", "itl_mean_ms", "meets_slo", "recompiles", *ENERGY_RUN, "usage_cached_tokens", "cache_hit",
                 "send_lag_ms", "other_cpu_share",
                 # per log, from its header
                 "backend", "backend_version", "n_prompt_tokens", "device_name", "backend_device", "model_name", "model_type",
                 "weights", "n_params", "model_bytes", "bits_per_weight", "threads", "temperature", "load_seconds", "compile_seconds",
                 "settings", "model_sha256", "cpu_model", "python", "versions", "git_commit", "started_at", "status", "log_file",
                 "mode", "concurrency", "workload",
                 # serving logs: the whole load level's figures (collate.load_figures), its request rate and SLOs
                 "aggregate_tokens_per_sec", "prompts_per_sec", "goodput_rps", "requests_completed", "requests_failed",
                 "duration_s", "slo_ttft_ms", "slo_itl_ms", "cache_hit_requests", "client_cpu_share", "send_lag_ms_p99",
                 # what makes a configuration (analysis.KEY) and its memory
                 "knobs", "ctx", "n_decode_steps", "batch", "request_rate", "predicted_bytes", "memory_limit_bytes", "roofline_gb_s",
                 "compute_gflop_s",
                 # how many runs: the --target-ci asked (blank: none) and why the worker stopped (its last run line)
                 "target_ci_pct", "stopped_by",
                 # which energy counters the runs read (measure/energy.py), or "not measured: why"
                 "energy_gpu", "energy_cpu",
                 # the code that made the log (core/metadata.tree_hash), where git_commit can be stale (a copied tree)
                 "tree_sha256",
                 # the GPU(s) the fleet placed it on (core/metadata.collect_placement); blank elsewhere
                 "gpu_index"]
COLUMNS = SEED_COLUMNS + EXTRA_COLUMNS
RETIRED = ("roofline_tok_s", "pct_of_roofline")  # per-step columns earlier versions derived and nothing read: dropped when read back
CSV_NAMES = {"mlc": "mlc_llm.csv"}  # the seed's file name for MLC-LLM
# per log, the header's text as it is
HEADER_COLUMNS = ("platform", "release", "device", "username", "hostname", "size", "quantize", "seed", "uuid", "backend",
                  "backend_version", "n_prompt_tokens", "device_name", "backend_device", "model_name", "model_type", "weights",
                  "n_params", "model_bytes", "bits_per_weight", "threads", "temperature", "load_seconds", "compile_seconds",
                  "model_sha256", "cpu_model", "python", "git_commit", "started_at", "mode", "concurrency", "knobs", "ctx",
                  "n_decode_steps", "batch", "request_rate", "predicted_bytes", "memory_limit_bytes", "duration_s", "slo_ttft_ms",
                  "slo_itl_ms", "target_ci_pct", "energy_gpu", "energy_cpu", "tree_sha256", "workload", "gpu_index")
# per run: CSV column <- run line key
RUN_COLUMNS = {"internal_run_prefill_ms": "internal_prefill_ms", "internal_run_decode_ms": "internal_decode_ms",
               "request_start_ms": "start_ms", "e2e_latency_ms": "e2e_latency_ms", "n_token_chunks": "n_token_chunks",
               "usage_completion_tokens": "usage_completion_tokens", "tokens_match": "tokens_match",
               "finish_reason": "finish_reason", "peak_rss_bytes": "peak_rss_bytes", "peak_device_bytes": "peak_device_bytes",
               "scheduled_ms": "scheduled_ms", "server_queue_ms": "server_queue_ms", "itl_mean_ms": "itl_mean_ms", "meets_slo": "meets_slo",
               "recompiles": "recompiles", **{c: c for c in ENERGY_RUN}, "usage_cached_tokens": "usage_cached_tokens", "cache_hit": "cache_hit",
               "send_lag_ms": "send_lag_ms", "other_cpu_share": "other_cpu_share"}
# per step: CSV column <- step field, as the log has it
STEP_COLUMNS = {"step": "step", "enqueue_latency_ms": "enqueue_latency_ms", "total_latency_ms": "total_latency_ms", "generated_text": "text",
                "phase": "phase", "run": "run", "position": "position", "n_step_tokens": "n_tokens", "token_id": "token_id",
                "bytes_read": "bytes_read", "min_bytes_read": "min_bytes_read"}
SETTING_CHARS = 64  # the longest header value the settings column carries
KEY_COLUMNS = ("uuid", "log_file", "started_at", "run", "step", "status")  # an earlier CSV without these is not this one's

def csv_path(out_dir: Path, backend: str) -> Path: return Path(out_dir) / CSV_NAMES.get(backend, f"{backend}.csv")

def declared(column: str) -> Field | None:
  """The raw log's declaration of the field a CSV column carries (None: a column collate derives): what the parser
  accepts is what a reader of the CSV accepts."""
  if column in STEP_COLUMNS: return STEP[STEP_COLUMNS[column]]
  if column in RUN_COLUMNS: return RUN[RUN_COLUMNS[column]]
  return HEADER.get(column) if column in HEADER_COLUMNS else None

Frame = dict  # column -> a pyarrow array (one value per step row) or one Python value for the whole log

def frame(log: Log) -> Frame:
  """The CSV columns of one log: a row per step, in (run, step) order, with the derived metrics."""
  h = log.header
  f: Frame = {c: h.get(c, "") for c in HEADER_COLUMNS}
  # the dotted keys that set or describe the backend; package versions and the roofline have columns of their own, and a
  # long description (llama.cpp's system_info) stays in the log: on every row of a million it would be a third of the CSV
  f["settings"] = json.dumps({k: v for k, v in h.items() if "." in k and not k.startswith(("version.", "roofline.")) and len(v) <= SETTING_CHARS},
                             sort_keys=True)
  f["versions"] = json.dumps({k[len("version."):]: v for k, v in h.items() if k.startswith("version.")}, sort_keys=True)
  f["status"], f["log_file"] = log.status, log.path.name
  f["stopped_by"] = next((r["stopped_by"] for r in reversed(log.runs) if r.get("stopped_by")), "")
  if any(r.get("e2e_latency_ms") is not None for r in log.runs):
    load = load_figures(log.runs)
    f.update(aggregate_tokens_per_sec=load["tok_s"], prompts_per_sec=load["prompts_per_s"], goodput_rps=load["goodput_rps"],
             requests_completed=load["completed"], requests_failed=load["failed"], cache_hit_requests=load["cache_hits"],
             client_cpu_share=load["client_cpu_share"], send_lag_ms_p99=load["send_lag_ms_p99"])
  for c in ("roofline_gb_s", "compute_gflop_s"): f[c] = float(h.get(c) or 0) or None  # measured on the host, in the log's header (measure/bandwidth.py)
  t = log.table
  if not t.num_rows: return f  # a failed run without steps still gets one row saying why
  key = t.column("run").to_numpy() * (1 << 32) + t.column("step").to_numpy()
  if np.any(key[1:] <= key[:-1]): t = t.take(np.argsort(key, kind="stable"))  # a worker's log is in order already
  num = lambda k: t.column(k).to_numpy().astype(np.float64)  # nulls come as NaN
  ms, n_tokens, bytes_read, min_bytes = num("total_latency_ms"), num("n_tokens"), num("bytes_read"), num("min_bytes_read")
  seconds = np.where(ms > 0, ms / 1e3, np.nan)
  tps = n_tokens / seconds
  nbytes = np.where(np.isnan(bytes_read), min_bytes, bytes_read)
  model_bytes = float(h.get("model_bytes") or 0)
  arr = lambda x: pa.array(x, mask=np.isnan(x))  # NaN -> null
  f.update({c: t.column(k) for c, k in STEP_COLUMNS.items()})
  f.update({"tokens_per_sec": arr(tps), "memory_throughput_gb_s": arr(np.where(nbytes > 0, nbytes, np.nan) / seconds / 1e9),
            "param_throughput_gb_s": arr(model_bytes / seconds / 1e9) if model_bytes else None,
            "memory_bytes_source": pc.if_else(t.column("bytes_read").is_null(), "model geometry", "backend counter")
                                   if 0 < t.column("bytes_read").null_count < len(t) else "model geometry" if t.column("bytes_read").null_count else "backend counter"})
  if log.runs:  # each run line's values on its steps' rows
    where = pc.index_in(t.column("run"), pa.array([r["run"] for r in log.runs])).combine_chunks()
    for c, k in RUN_COLUMNS.items():
      values = [r.get(k) for r in log.runs]
      f[c] = pa.DictionaryArray.from_arrays(where, pa.array(values)) if any(v is not None for v in values) else None
  return f

def rows(log: Log) -> list[dict]:
  """The rows of frame(log) as dicts of Python values."""
  f = frame(log)
  n = next((len(v) for v in f.values() if isinstance(v, (pa.Array, pa.ChunkedArray))), 0)
  if not n: return [{c: f.get(c) for c in COLUMNS}]
  cols = {c: f[c].to_pylist() if isinstance(f.get(c), (pa.Array, pa.ChunkedArray)) else [f.get(c)] * n for c in COLUMNS}
  return [dict(zip(cols, vals)) for vals in zip(*cols.values())]

def load_figures(runs: list[dict]) -> dict:
  """A serving load level's figures from its run lines (one per request), over the time from the first request's
  start to the last completed one's end: tokens per second (the server's count of each request's tokens where it gave
  one), completed requests ("prompts") per second, and goodput: requests within both SLOs per second (None without
  SLOs). A failed request counts in the time it took, not in the tokens or the goodput. Where the requests say:
  cache_hits, the requests a prompt cache served beyond the shared prefix the workload asked for, and client_cpu_share,
  the client's CPU seconds (its last reading, taken as a request ended) per second of the load level: cores it used, and
  in an open loop the requests' send lag (ms each left after its scheduled arrival): p50, p99 and max."""
  done = [r for r in runs if r.get("start_ms") is not None and r.get("e2e_latency_ms") is not None and not r.get("error")]
  wall_ms = max((r["start_ms"] + r["e2e_latency_ms"] for r in done), default=0) - min((r["start_ms"] for r in runs if r.get("start_ms") is not None), default=0)
  hits = [r["cache_hit"] for r in runs if r.get("cache_hit") is not None]
  cpu = max((r["client_cpu_s"] for r in runs if r.get("client_cpu_s") is not None), default=None)
  lag = [r["send_lag_ms"] for r in runs if r.get("send_lag_ms") is not None]
  extra = {"cache_hits": sum(hits) if hits else None, "client_cpu_share": cpu / wall_ms * 1e3 if cpu is not None and wall_ms > 0 else None,
           **{f"send_lag_ms_{q}": float(np.percentile(lag, p)) if lag else None for q, p in (("p50", 50), ("p99", 99), ("max", 100))}}
  if not done or wall_ms <= 0: return {"completed": len(done), "failed": len(runs) - len(done), "wall_s": None, "tok_s": None, "prompts_per_s": None, "goodput_rps": None, **extra}
  tokens = sum(r["usage_completion_tokens"] if r.get("usage_completion_tokens") is not None else r.get("n_token_chunks") or 0 for r in done)
  return {**extra, "completed": len(done), "failed": len(runs) - len(done), "wall_s": wall_ms / 1e3, "tok_s": tokens / wall_ms * 1e3,
          "prompts_per_s": len(done) / wall_ms * 1e3,
          "goodput_rps": sum(bool(r.get("meets_slo")) for r in runs) / wall_ms * 1e3 if any(r.get("meets_slo") is not None for r in runs) else None}

def aggregate_tokens_per_sec(log: Log) -> float | None: return load_figures(log.runs)["tok_s"]

# ---- CSV text, a column at a time

def _text(v) -> str:
  if v is None: return ""
  if isinstance(v, float): return repr(round(v, 6))
  return str(v)

def _quote(s: str) -> str:
  buf = io.StringIO()
  csv.writer(buf, lineterminator="").writerow([s])
  return buf.getvalue() if s else ""

def _cells(v) -> pa.Array | str:
  """A column's CSV cells: numbers as text (floats rounded to 6 decimals), text quoted where it must be, null as ''.
  One text where every cell is the same."""
  if not isinstance(v, (pa.Array, pa.ChunkedArray)): return _quote(_text(v))
  if isinstance(v, pa.ChunkedArray): v = v.combine_chunks()
  if v.null_count == len(v): return ""
  if isinstance(v, pa.DictionaryArray): return pc.fill_null(_cells(v.dictionary).take(v.indices), "")  # e.g. a run's values: each rendered once
  if pa.types.is_large_string(v.type): v = pc.cast(v, pa.string())  # pandas' strings: quoted as any text
  if pa.types.is_boolean(v.type): v = pc.if_else(v, "True", "False")
  elif pa.types.is_floating(v.type): v = pc.cast(pc.round(v, 6), pa.string())
  elif not pa.types.is_string(v.type): v = pc.cast(v, pa.string())
  elif pc.any(needs := pc.match_substring_regex(v, '[,"\r\n]')).as_py():
    v = pc.if_else(needs, pc.binary_join_element_wise('"', pc.replace_substring(v, '"', '""'), '"', ""), v)
  return pc.fill_null(v, "")

CHUNK_ROWS = 1 << 16  # rows rendered at once: bounds the memory a huge log takes, and keeps offsets in int32

def _chunks(f: Frame, columns: list[str]) -> Iterator[tuple[Frame, list[str], int, int]]:
  n = next((len(v) for v in f.values() if isinstance(v, (pa.Array, pa.ChunkedArray))), 1)
  for i in range(0, n, CHUNK_ROWS): yield f, columns, i, min(CHUNK_ROWS, n - i)

def _render(chunk: tuple[Frame, list[str], int, int]) -> bytes | pa.Buffer:
  """n rows of f from row i, as CSV lines."""
  f, columns, i, n = chunk
  parts: list = []  # arrays of cells, and the cells the whole chunk shares merged into one text: the join's cost is per part
  for v in (f.get(c) for c in columns):
    v = _cells(v.slice(i, n) if isinstance(v, (pa.Array, pa.ChunkedArray)) else v)
    if isinstance(v, str) and parts and isinstance(parts[-1], str): parts[-1] += "," + v
    else: parts.append(v)
  if len(parts) == 1: return (parts[0] + "\n").encode() * n
  parts[-1] = parts[-1] + "\n" if isinstance(parts[-1], str) else pc.binary_join_element_wise(parts[-1], "", "\n")
  lines = pc.binary_join_element_wise(*parts, ",")
  offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
  return lines.buffers()[2][offsets[0]:offsets[-1]]

def _in_order(pool: ThreadPoolExecutor, fn: Callable, items: Iterable, ahead: int) -> Iterator:
  """fn over items on the pool's threads, results in order, at most `ahead` at work (or done and waiting) at once."""
  todo: deque[Future] = deque()
  for it in items:
    todo.append(pool.submit(fn, it))
    if len(todo) > ahead: yield todo.popleft().result()
  while todo: yield todo.popleft().result()

def write_csv(path: Path, columns: list[str], frames: Iterable[Frame] | pd.DataFrame, pool: ThreadPoolExecutor | None = None):
  """The one CSV writer (collated CSVs, the analysis's files, the sweep's table): frames rendered a chunk at a time on
  a thread pool into a file that replaces `path` atomically. A DataFrame is one frame."""
  if isinstance(frames, pd.DataFrame):
    frames = [{c: pa.Array.from_pandas(frames[c].astype(object) if frames[c].dtype == object else frames[c]) for c in columns}] if len(frames) else []
  with (nullcontext(pool) if pool else ThreadPoolExecutor(WORKERS)) as workers, atomic_file(path, direct=True) as out:
    out.write((",".join(map(_quote, columns)) + "\n").encode())
    for lines in _in_order(workers, _render, (c for f in frames for c in _chunks(f, columns)), ahead=2 * WORKERS): out.write(lines)

# ---- the earlier CSV

GROUP = ["started_at", "uuid", "log_file"]  # a log's rows in the CSV

def _earlier(target: Path, columns: list[str] | None = None, drop: set[str] = frozenset()) -> tuple[pa.Table | None, str]:
  """The CSV already there, every cell as text: its columns (default: all) of the rows whose uuid is not in drop.
  None and why where it cannot be read back."""
  if not target.exists(): return None, ""
  read = lambda block_bytes, columns: pcsv.open_csv(
    target, read_options=pcsv.ReadOptions(block_size=block_bytes), parse_options=pcsv.ParseOptions(newlines_in_values=True),
    convert_options=pcsv.ConvertOptions(column_types={c: pa.string() for c in COLUMNS}, strings_can_be_null=False, include_columns=columns))
  try:
    names = read(1 << 16, None).schema.names
    if unknown := [c for c in names if c not in COLUMNS and c not in RETIRED]: return None, f"unknown columns {', '.join(unknown[:3])}"
    if missing := [c for c in KEY_COLUMNS if c not in names]: return None, f"no column {', '.join(missing)}"
    reader, keep = read(1 << 24, columns or [c for c in names if c not in RETIRED]), pa.array(sorted(drop), pa.string())
    return pa.Table.from_batches([b.filter(pc.invert(pc.is_in(b.column("uuid"), keep))) for b in reader], reader.schema), ""
  except (pa.ArrowException, OSError, UnicodeDecodeError) as e: return None, str(e).splitlines()[0][:120]

def _kept_groups(kept: pa.Table) -> list[tuple[tuple, pa.Table]]:
  """The kept rows of each gone log, in their order (the CSV's), keyed like a log."""
  kept = kept.take(pc.sort_indices(kept, [(k, "ascending") for k in GROUP]))  # a stable sort
  new = np.zeros(kept.num_rows, bool)
  new[:1] = True
  for k in GROUP: new[1:] |= pc.not_equal(kept[k][1:], kept[k][:-1]).to_numpy()
  bounds = np.r_[np.flatnonzero(new), kept.num_rows]
  return [(tuple(kept[k][int(a)].as_py() for k in GROUP), kept.slice(a, b - a)) for a, b in zip(bounds[:-1], bounds[1:])]

# ---- the index beside the CSV: where each log's rows sit in it, so that an unchanged log is not read again

@dataclass(frozen=True)
class Held:
  """A log's rows in the CSV, by the index: bytes [at, at + size) of it, copied as they are."""
  key: tuple[str, str, str]  # GROUP: started_at, uuid, log_file
  rows: int
  at: int
  size: int
  log: tuple | None          # the log file's _stat when collated; None: rows kept from a log that is gone

def index_path(target: Path) -> Path: return target.with_name(f".{target.name}.index")

@functools.cache
def _code() -> str:
  """What a log's rows in the CSV depend on besides the log: this module, the parser, and the libraries that render numbers."""
  from inferbench.store import rawlog
  return hashlib.sha256(Path(__file__).read_bytes() + Path(rawlog.__file__).read_bytes() + f"{pa.__version__} {np.__version__}".encode()).hexdigest()[:16]

def _stat(st: os.stat_result) -> tuple: return (st.st_size, st.st_mtime_ns, st.st_ino)

def _index(target: Path) -> tuple[list[Held], int] | None:
  """The groups of the index written with target, and the index's own time, where it still describes target: written
  by this code, the CSV unchanged since (size, modification time, inode), and that time older than the index's, so
  that a change within the same clock tick cannot pass for none (git's "racily clean" files)."""
  try:
    at, st = os.stat(index_path(target)).st_mtime_ns, os.stat(target)
    idx = json.loads(index_path(target).read_bytes())
    if idx["code"] != _code() or tuple(idx["csv"]) != _stat(st) or st.st_mtime_ns >= at: return None
    return [Held(tuple(k), r, a, n, tuple(l) if l else None) for k, r, a, n, l in idx["groups"]], at
  except (OSError, ValueError, KeyError, TypeError): return None

def _write_index(target: Path, groups: list[Held]):
  path, st = index_path(target), os.stat(target)
  atomic_write(path, json.dumps({"code": _code(), "csv": _stat(st), "groups": [[g.key, g.rows, g.at, g.size, g.log] for g in groups]}))
  while os.stat(path).st_mtime_ns <= st.st_mtime_ns: time.sleep(1e-3); os.utime(path)  # a clock tick after the CSV's: a later change shows

def _copy(src: BinaryIO, dst: BinaryIO, at: int, size: int):
  """size bytes of src from offset at onto the end of dst, in the kernel where it can."""
  dst.flush()
  while size:
    try: n = os.copy_file_range(src.fileno(), dst.fileno(), size, at)
    except OSError as e:
      if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP): raise
      n = dst.write(os.pread(src.fileno(), min(size, 1 << 24), at))
      dst.flush()
    if not n: raise OSError(errno.EIO, f"{src.name} is shorter than its index says")
    at, size = at + n, size - n

# ---- collate

WORKERS = min(4, os.cpu_count() or 1)  # pyarrow lets go of the GIL while it parses and renders

def _parse(path: Path) -> Log | LogError:
  try: return parse(path)
  except LogError as e: return e

def _key(g: Log | Held) -> tuple[str, str, str]: return g.key if isinstance(g, Held) else (g.header.get("started_at", ""), g.header["uuid"], g.path.name)

def collate(backend: str, out_dir: Path = Path("benchmark_output")) -> tuple[Path, int, list[LogError]]:
  """Collates every {backend}_*.txt log in out_dir. Returns the CSV path, its row count and the files not collated.
  A log the CSV's index shows unchanged since it was collated (size, modification time, inode) is not read: its rows
  are copied from the CSV as they are; when no log changed, the CSV is left as it is."""
  out_dir, problems, logs = Path(out_dir), [], []
  target = csv_path(out_dir, backend)
  indexed, since = _index(target) or ([], 0)
  by_name = {g.key[2]: g for g in indexed if g.log}
  stats, paths = {}, []  # a log's stat before it is read: a change while it is read shows next time
  for path in sorted(out_dir.glob(f"{backend}_*.txt")):
    try: st = stats[path.name] = _stat(os.stat(path))
    except OSError: st = None
    if (g := by_name.get(path.name)) and g.log == st and st[1] < since: logs.append(g)
    else: paths.append(path)
  held: dict[str, set[str]] = {}  # uuid -> the log files its rows in the CSV came from
  if indexed:
    for g in indexed: held.setdefault(g.key[1], set()).add(g.key[2])
  else:
    earlier, why = _earlier(target, GROUP)  # before the logs are parsed: its memory is then theirs
    if why:
      print(f"warning: {target} cannot be read back ({why}): rebuilt from the logs; the damaged file is kept as "
            f"{target.name}.damaged, with any rows of logs that are gone", file=sys.stderr)
      os.replace(target, target.with_name(target.name + ".damaged"))
    pairs = earlier.group_by(["uuid", "log_file"]).aggregate([]) if earlier is not None else pa.table({"uuid": [], "log_file": []})  # a log's, once
    for u, name in zip(*(pairs.column(k).to_pylist() for k in ("uuid", "log_file"))): held.setdefault(u, set()).add(name)
    del earlier, pairs
  with ThreadPoolExecutor(WORKERS) as pool:
    for log in pool.map(_parse, paths):
      if isinstance(log, LogError): problems.append(log)
      elif log.header["backend"] == backend: logs.append(log)
      elif not log.path.name.startswith(f"{log.header['backend']}_"):  # else: another backend whose name starts with this one's
        problems.append(LogError(log.path, log.header_lines["backend"], f"a log of backend {log.header['backend']!r}, not {backend!r}"))
    # one log per uuid: the one the CSV already holds, else the first to start; any other is a conflict
    winners: dict[str, Log | Held] = {}
    for log in sorted(logs, key=lambda l: (_key(l)[2] not in held.get(_key(l)[1], ()), _key(l)[0], _key(l)[2])):
      _, u, name = _key(log)
      if u not in winners and name in held.get(u, {name}): winners[u] = log
      else: problems.append(LogError(out_dir / name, 0 if isinstance(log, Held) else log.header_lines["uuid"], f"uuid {u} is also "
                                     f"{_key(winners[u])[2] if u in winners else ', '.join(sorted(held[u])) + ' (in the CSV)'}'s: "
                                     "not collated; remove or rename one of them"))
    # rows of the logs, and the kept rows of gone logs, in (started_at, uuid, log_file) order; a log's by (run, step)
    groups = [(_key(l), l) for l in winners.values()]
    if indexed: groups += [(g.key, g) for g in indexed if g.key[1] not in winners]
    elif set(held) - set(winners) and (kept := _earlier(target, drop=set(winners))[0]) is not None: groups += _kept_groups(kept)
    groups.sort(key=lambda g: g[0])
    rows = sum(g.rows if isinstance(g, Held) else g.num_rows if isinstance(g, pa.Table) else max(g.table.num_rows, 1) for _, g in groups)
    if indexed and [g for _, g in groups] == indexed: return target, rows, problems  # what the CSV holds already, byte for byte
    _write_index(target, _write_groups(target, groups, pool, stats))
  return target, rows, problems

class _Range(tuple): """(at, size): bytes of the earlier CSV to copy."""

def _write_groups(target: Path, groups: list[tuple[tuple, Log | Held | pa.Table]], pool: ThreadPoolExecutor, stats: dict) -> list[Held]:
  """The CSV of these groups, in their order, replacing target atomically: a log's rows rendered, held rows copied from
  the CSV there. Returns where each group's rows now sit."""
  def pieces(g) -> Iterator:
    if isinstance(g, Held): yield _Range((g.at, g.size))
    else: yield from _chunks(frame(g) if isinstance(g, Log) else {c: g.column(c) for c in g.column_names}, COLUMNS)
  sizes = [0] * len(groups)
  head = (",".join(map(_quote, COLUMNS)) + "\n").encode()
  with (open(target, "rb") if any(isinstance(g, Held) for _, g in groups) else nullcontext()) as src, atomic_file(target, direct=True) as out:
    out.write(head)
    work = ((i, p) for i, (_, g) in enumerate(groups) for p in pieces(g))
    for i, p in _in_order(pool, lambda ip: (ip[0], ip[1] if isinstance(ip[1], _Range) else _render(ip[1])), work, ahead=2 * WORKERS):
      if isinstance(p, _Range): _copy(src, out, *p)
      else: out.write(p)
      sizes[i] += p[1] if isinstance(p, _Range) else len(p)
  at = np.cumsum([len(head), *sizes]).tolist()
  return [Held(k, g.rows if isinstance(g, Held) else g.num_rows if isinstance(g, pa.Table) else max(g.table.num_rows, 1), at[i], sizes[i],
               g.log if isinstance(g, Held) else stats.get(k[2]) if isinstance(g, Log) else None) for i, (k, g) in enumerate(groups)]

def main(backend: str, argv: list[str] | None = None) -> int:
  p = cli.Parser(description=f"Collate benchmark_output/{backend}_*.txt raw logs into {csv_path(Path('benchmark_output'), backend)}.")
  p.add_argument("-d", "--dir", type=Path, default=Path("benchmark_output"), help="folder of raw logs (default: %(default)s)")
  args = p.parse_args(argv)
  if not args.dir.is_dir():
    print(f"error: no folder {args.dir}: run a benchmark first, or pass -d DIR", file=sys.stderr)
    return 2
  return collate_and_say(backend, args.dir)

def collate_and_say(backend: str, out_dir: Path) -> int:
  """collate(), its outcome printed: the exit code (1 when a log was skipped, or the CSV could not be written)."""
  try: target, n, problems = collate(backend, out_dir)
  except OSError as e:
    print(f"error: {cannot_write(e, e.filename or csv_path(out_dir, backend))}", file=sys.stderr)
    return 1
  for e in problems: print(f"skipped {e}", file=sys.stderr)
  print(f"{target}: {n} rows" + (f", {len(problems)} file(s) skipped" if problems else ""))
  return 1 if problems else 0
def serving_backends(out_dir: Path) -> list[str]:
  """The backends of the serving logs in out_dir, read from their headers (mlc first: the seed's CSV)."""
  found = set()
  for path in out_dir.glob("*_*.txt"):
    try: h = parse(path).header
    except LogError: continue  # collate reports it, under its own backend
    if h.get("mode") in ("endpoint", "in-process") and h.get("backend"): found.add(h["backend"])
  return sorted(found, key=lambda b: (b != "mlc", b))
