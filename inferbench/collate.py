"""Raw logs -> one CSV per backend. Every metric is derived here, once, from the raw samples in the logs.

Collating is idempotent and never loses rows: it re-reads every log of the backend, keeps rows already in the CSV
whose log is gone, sorts deterministically and replaces the CSV atomically.
"""
from __future__ import annotations
import csv, io, json, sys
from pathlib import Path
from . import roofline
from .models import atomic_write
from .rawlog import Log, LogError, parse

# The seed project's schema, unchanged and first; extra columns follow.
SEED_COLUMNS = ["step", "enqueue_latency_ms", "total_latency_ms", "tokens_per_sec", "memory_throughput_gb_s",
                "param_throughput_gb_s", "generated_text", "platform", "release", "device", "username", "hostname",
                "size", "quantize", "seed", "uuid"]
EXTRA_COLUMNS = ["backend", "backend_version", "phase", "run", "position", "n_step_tokens", "n_prompt_tokens", "token_id",
                 "bytes_read", "min_bytes_read", "memory_bytes_source", "device_name", "backend_device", "model_name",
                 "model_type", "weights", "n_params", "model_bytes", "bits_per_weight", "threads", "temperature",
                 "internal_run_prefill_ms", "internal_run_decode_ms", "load_seconds", "compile_seconds", "settings",
                 "model_sha256", "cpu_model", "python", "versions", "git_commit", "started_at", "status", "log_file",
                 # serving logs (serving.py): per request, and the whole batch's throughput
                 "mode", "concurrency", "request_start_ms", "e2e_latency_ms", "n_token_chunks", "usage_completion_tokens",
                 "tokens_match", "finish_reason", "aggregate_tokens_per_sec",
                 # roofline (roofline.py): decode rows only
                 "roofline_gb_s", "roofline_tok_s", "pct_of_roofline",
                 # what makes a configuration (analysis.KEY) and its memory
                 "knobs", "ctx", "n_decode_steps", "batch", "request_rate", "predicted_bytes", "memory_limit_bytes",
                 "peak_rss_bytes", "peak_device_bytes"]
COLUMNS = SEED_COLUMNS + EXTRA_COLUMNS
CSV_NAMES = {"mlc": "mlc_llm.csv"}  # the seed's file name for MLC-LLM

def csv_path(out_dir: Path, backend: str) -> Path: return Path(out_dir) / CSV_NAMES.get(backend, f"{backend}.csv")

def rows(log: Log) -> list[dict]:
  """One row per step, with the derived metrics; a failed run without steps still gets one row saying why."""
  h = log.header
  common = {k: h.get(k, "") for k in ("platform", "release", "device", "username", "hostname", "size", "quantize", "seed",
                                      "uuid", "backend", "backend_version", "n_prompt_tokens", "device_name", "backend_device",
                                      "model_name", "model_type", "weights", "n_params", "model_bytes", "bits_per_weight",
                                      "threads", "temperature", "load_seconds", "compile_seconds", "model_sha256",
                                      "cpu_model", "python", "git_commit", "started_at", "knobs", "ctx", "n_decode_steps",
                                      "batch", "request_rate", "predicted_bytes", "memory_limit_bytes")}
  common["settings"] = json.dumps({k: v for k, v in h.items() if "." in k and not k.startswith("version.")}, sort_keys=True)
  # package versions travel into the CSV so the deck's setup slide can name them without reading raw logs
  common["versions"] = json.dumps({k[len("version."):]: v for k, v in h.items() if k.startswith("version.")}, sort_keys=True)
  common["status"], common["log_file"] = log.status, log.path.name
  common["mode"], common["concurrency"] = h.get("mode", ""), h.get("concurrency", "")
  common["aggregate_tokens_per_sec"] = aggregate_tokens_per_sec(log)
  if not log.steps: return [dict(common)]
  runs = {r["run"]: r for r in log.runs}
  model_bytes = int(h.get("model_bytes") or 0)
  bandwidth_gb_s = float(h.get("roofline_gb_s") or 0)  # measured on the host, in the log's header (roofline.py)
  out = []
  for s in log.steps:
    seconds = s["total_latency_ms"] / 1e3
    nbytes = s.get("bytes_read") if s.get("bytes_read") is not None else s.get("min_bytes_read")
    r = runs.get(s["run"], {})
    tps = s["n_tokens"] / seconds if seconds > 0 else None
    ceiling = roofline.ceiling_tok_s(bandwidth_gb_s, s["min_bytes_read"]) \
      if bandwidth_gb_s and s["phase"] == "decode" and s.get("min_bytes_read") else None  # decode only: prefill is compute-bound
    out.append({**common, "step": s["step"], "enqueue_latency_ms": s["enqueue_latency_ms"], "total_latency_ms": s["total_latency_ms"],
                "tokens_per_sec": tps if tps is not None else "",
                "memory_throughput_gb_s": nbytes / seconds / 1e9 if nbytes and seconds > 0 else "",
                "param_throughput_gb_s": model_bytes / seconds / 1e9 if model_bytes and seconds > 0 else "",
                "generated_text": s["text"], "phase": s["phase"], "run": s["run"], "position": s["position"],
                "n_step_tokens": s["n_tokens"], "token_id": s["token_id"], "bytes_read": s.get("bytes_read"),
                "min_bytes_read": s.get("min_bytes_read"),
                "memory_bytes_source": "backend counter" if s.get("bytes_read") is not None else "model geometry",
                "internal_run_prefill_ms": r.get("internal_prefill_ms"), "internal_run_decode_ms": r.get("internal_decode_ms"),
                "request_start_ms": r.get("start_ms"), "e2e_latency_ms": r.get("e2e_latency_ms"), "n_token_chunks": r.get("n_token_chunks"),
                "usage_completion_tokens": r.get("usage_completion_tokens"), "tokens_match": r.get("tokens_match"),
                "finish_reason": r.get("finish_reason"),
                "peak_rss_bytes": r.get("peak_rss_bytes"), "peak_device_bytes": r.get("peak_device_bytes"),
                "roofline_gb_s": bandwidth_gb_s or None, "roofline_tok_s": ceiling,
                "pct_of_roofline": roofline.pct_of_ceiling(tps, ceiling) if ceiling and tps else None})
  return out

def aggregate_tokens_per_sec(log: Log) -> float | None:
  """A serving batch's throughput: every request's tokens (the server's count where it gave one) over the time from
  the first request's start to the last one's end. None for logs without per-request starts and ends."""
  done = [r for r in log.runs if r.get("start_ms") is not None and r.get("e2e_latency_ms") is not None]
  if not done: return None
  wall_ms = max(r["start_ms"] + r["e2e_latency_ms"] for r in done) - min(r["start_ms"] for r in done)
  tokens = sum(r["usage_completion_tokens"] if r.get("usage_completion_tokens") is not None else r.get("n_token_chunks", 0) for r in done)
  return tokens / wall_ms * 1e3 if wall_ms > 0 else None

def _text(v) -> str:
  if v is None: return ""
  if isinstance(v, float): return repr(round(v, 6))
  return str(v)

def _sort_key(row: dict): return (row.get("started_at", ""), row.get("uuid", ""), int(row.get("run") or 0), int(row.get("step") or 0))

def collate(backend: str, out_dir: Path = Path("benchmark_output")) -> tuple[Path, int, list[LogError]]:
  """Collates every {backend}_*.txt log in out_dir. Returns the CSV path, its row count and the files skipped."""
  out_dir, problems, by_uuid = Path(out_dir), [], {}
  for path in sorted(out_dir.glob(f"{backend}_*.txt")):
    try:
      log = parse(path)
      if log.header.get("backend") != backend:
        if path.name.startswith(f"{log.header.get('backend')}_"): continue  # another backend whose name starts with this one's
        raise LogError(path, 1, f"a log of backend {log.header.get('backend')!r}, not {backend!r}")
      by_uuid[log.header.get("uuid") or path.name] = [{c: _text(row.get(c)) for c in COLUMNS} for row in rows(log)]
    except LogError as e: problems.append(e)
  target = csv_path(out_dir, backend)
  if target.is_file():  # keep what earlier collations saved from logs that are gone now
    with open(target, newline="", encoding="utf-8") as f:
      for row in csv.DictReader(f):
        if row.get("uuid") not in by_uuid: by_uuid.setdefault(("kept", row.get("uuid")), []).append({c: row.get(c, "") for c in COLUMNS})
  all_rows = sorted((r for rs in by_uuid.values() for r in rs), key=_sort_key)
  buf = io.StringIO()
  w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
  w.writeheader()
  w.writerows(all_rows)
  atomic_write(target, buf.getvalue())
  return target, len(all_rows), problems

def main(backend: str, argv: list[str] | None = None) -> int:
  import argparse
  p = argparse.ArgumentParser(description=f"Collate benchmark_output/{backend}_*.txt raw logs into {csv_path(Path('benchmark_output'), backend)}.")
  p.add_argument("-d", "--dir", type=Path, default=Path("benchmark_output"), help="folder of raw logs (default: %(default)s)")
  args = p.parse_args(argv)
  if not args.dir.is_dir():
    print(f"error: no folder {args.dir}: run a benchmark first, or pass -d DIR", file=sys.stderr)
    return 2
  target, n, problems = collate(backend, args.dir)
  for e in problems: print(f"skipped {e}", file=sys.stderr)
  print(f"{target}: {n} rows" + (f", {len(problems)} file(s) skipped" if problems else ""))
  return 1 if problems else 0
