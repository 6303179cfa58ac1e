"""Seeded fuzzing: thousands of mutants of real logs through parse and through the collate CLI.

Every mutant must be rejected with a LogError (never any other exception), or accepted with values that pass an
independent check of the log's invariants; collate must report each rejected file as file:line: why, keep every row
of the valid logs beside it, and hold the rows of every accepted one."""
import io, math, random, re, shutil
import numpy as np
import pyarrow as pa, pyarrow.csv as pcsv
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from inferbench.store import collate
from inferbench.store.rawlog import SERVING, LogError, parse
from test_rawlog import write_log

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "docs/results/cpu/tinygrad_vm_1B-synthetic_F16_seed42_uuid84f16224.txt",
           ROOT / "docs/results/cpu/llamacpp_vm_1B-synthetic_Q4-K-M_seed42_uuid5e3c9e24.txt",
           ROOT / "docs/results/cpu/tinygrad_vm_135M_Q4-K-M_seed42_uuid5d97e56b.txt",   # real text
           ROOT / "docs/results/fleet/llamacpp_vm_135M_Q4-K-M_seed42_uuid233cbbb4.txt"]
MUTANTS, BATCH, SEED = 2000, 500, 16
NUMBERS = ["total_latency_ms", "enqueue_latency_ms", "tokens_per_sec", "memory_throughput_gb_s", "param_throughput_gb_s"]

# ---- mutations of a log's lines (bytes, without their line breaks)

NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
VALUE = re.compile(rb'(": )("(?:[^"\\]|\\.)*"|[^,}]+)')
ODD = [b"-1", b"-0.5", b"0", b"0.0", b"1e999", b"-1e999", b"NaN", b"Infinity", b"-Infinity", b"9" * 5000, b"9223372036854775808",
       b"1.5", b'"12"', b'""', b"null", b"true", b"false", b"[]", b"{}", b"[1]", b'{"a": 1}', b"[" * 5000 + b"]" * 5000, b"1e308",
       b"2", b"123456789", b"-0", b"1E2", b'"\\ud800"', b'"\xe2\x80\xa8"', b"01", b"+1", b".5", b"0x10"]
RAW = ["\u2028", "\u2029", "\x85", "\r", "\x0b", "\x0c", "\x1c", "\x00", "\t", "\ufffd", "é", "😀", '"', "\\", "{", "}", ","]

def records(lines: list[bytes]) -> list[int]: return [i for i, l in enumerate(lines) if l.startswith((b"step ", b"run "))]
def headers(lines: list[bytes]) -> list[int]: return [i for i, l in enumerate(lines[:-1]) if 0 < i and not l.startswith((b"step ", b"run "))]

def m_number(lines, rng):
  i = rng.choice(records(lines) + headers(lines))
  spans = [m.span() for m in NUMBER.finditer(lines[i])]
  if spans:
    a, b = rng.choice(spans)
    lines[i] = lines[i][:a] + rng.choice(ODD) + lines[i][b:]

def m_value(lines, rng):  # a JSON value's type or size
  i = rng.choice(records(lines))
  if spans := [m.span(2) for m in VALUE.finditer(lines[i])]:
    a, b = rng.choice(spans)
    lines[i] = lines[i][:a] + rng.choice(ODD + [b'"' + b"x" * 200_000 + b'"', b'"a\\nb"', b"[1, [2, [3]]]"]) + lines[i][b:]

def m_key(lines, rng):
  i = rng.choice(records(lines))
  keys = re.findall(rb'"(\w+)": ', lines[i])
  if not keys: return
  k = rng.choice(keys)
  op = rng.randrange(4)
  if op == 0: lines[i] = re.sub(rb'"%s": [^,}]+(, )?' % k, b"", lines[i], count=1)             # dropped
  elif op == 1: lines[i] = lines[i].replace(b"{", b'{"%s": 1, ' % k, 1)                          # twice
  elif op == 2: lines[i] = lines[i].replace(b'"%s"' % k, b'"%s_x"' % k, 1)                      # renamed
  else: lines[i] = lines[i].replace(b"{", b'{"extra": %s, ' % rng.choice([b"1", b'"x"', b"null", b"1e999", b"[1]"]), 1)

def m_lines(lines, rng):
  i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
  op = rng.randrange(5)
  if op == 0: del lines[i]
  elif op == 1: lines.insert(j, lines[i])
  elif op == 2: lines[i], lines[j] = lines[j], lines[i]
  elif op == 3: lines.insert(j, rng.choice([b"", b"garbage", bytes(rng.randrange(256) for _ in range(20)), b"key: value", b"status: ok", b"run {}", b"step {}"]))
  else: lines[i] = lines[i][:rng.randrange(len(lines[i]) + 1)]

def m_unicode(lines, rng):
  i = rng.choice(records(lines) + headers(lines))
  at = rng.randrange(len(lines[i]) + 1)
  insert = rng.choice(RAW).encode() if rng.random() < 0.8 else rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\\ud800", b"\\u0000"])
  lines[i] = lines[i][:at] + insert + lines[i][at:]

def m_header(lines, rng):
  i = rng.choice(headers(lines))
  key = lines[i].partition(b":")[0]
  op = rng.randrange(4)
  if op == 0: lines[i] = key + b": " + rng.choice([b"abc", b"-1", b"0", b"1e999", b"", b"9" * 5000, b"1.5", b"NaN", b"3", b'"x"', b"a\\qb"])
  elif op == 1: lines.insert(i + 1, lines[i])
  elif op == 2: del lines[i]
  else: lines[1] = b"schema: " + rng.choice([b"1", b"2", b"3", b"x"])

def m_record(lines, rng):  # a step's identity: run, step, phase, position
  i = rng.choice(records(lines))
  for k in (b"run", b"step", b"position", b"n_tokens"):
    if rng.random() < 0.3: lines[i] = re.sub(rb'"%s": \d+' % k, b'"%s": %d' % (k, rng.choice([0, 1, 2, 3, 37, 128, 129])), lines[i], count=1)
  if rng.random() < 0.3: lines[i] = lines[i].replace(b'"decode"', b'"prefill"') if b'"decode"' in lines[i] else lines[i].replace(b'"prefill"', b'"decode"')

def m_structure(lines, rng):
  i = rng.choice(records(lines))
  op = rng.randrange(4)
  if op == 0: lines[i] = lines[i].replace(rng.choice([b"{", b"}", b", ", b": ", b'"']), b"", 1)
  elif op == 1: lines[i] = lines[i] + rng.choice([b" x", b" {}", b"}", b' {"run": 0}', b","])
  elif op == 2: lines[i] = lines[i].replace(b"{", b"[{", 1) + b"]"
  else: lines[i] = lines[i][:5] + b" " * rng.randrange(3) + lines[i][5:].replace(b", ", b",", rng.randrange(5))

def m_status(lines, rng):
  op = rng.randrange(4)
  if op == 0: del lines[-1]
  elif op == 1: lines[-1] = rng.choice([b"status: ", b"status: failed: x", b"status:", b"status: ok extra"])
  elif op == 2: lines.append(rng.choice([b"status: ok", b"step {}", b"key: v"]))
  else: lines.insert(rng.randrange(len(lines)), b"status: ok")

MUTATIONS = [m_number, m_value, m_key, m_lines, m_unicode, m_header, m_record, m_structure, m_status]

def mutant(source: bytes, rng: random.Random, uuid: str) -> bytes:
  lines = re.sub(rb"^uuid: .*$", b"uuid: " + uuid.encode(), source, count=1, flags=re.M).split(b"\n")[:-1]
  for _ in range(rng.choice([1, 1, 1, 2, 3])): rng.choice(MUTATIONS)(lines, rng)
  data = b"\n".join(lines) + b"\n"
  return data[:rng.randrange(len(data))] if rng.random() < 0.03 else data  # cut anywhere

# ---- the oracle: what an accepted log must satisfy, checked independently of rawlog's checks

def number(v, lo=None) -> bool:
  return type(v) in (int, float) and math.isfinite(v) and (lo is None or v >= lo) and (type(v) is float or abs(v) < 2**63)

def corrupt(log) -> str:
  """Why an accepted log holds a corrupt value ('' when it holds none)."""
  h = log.header
  for k in ("n_prompt_tokens", "n_decode_steps", "runs", "threads", "requests", "concurrency", "batch", "ctx"):
    if h.get(k) and not (h[k].isdigit() and 0 < int(h[k]) < 2**63): return f"header {k}={h[k][:20]!r}"
  for k in ("roofline_gb_s", "temperature", "model_bytes", "n_params", "bits_per_weight", "load_seconds"):
    try:
      if h.get(k) and not number(float(h[k]), 0): return f"header {k}={h[k][:20]!r}"
    except ValueError: return f"header {k}={h[k][:20]!r}"
  seen, by_run = set(), {}
  for s in log.steps:
    for k in ("run", "step", "position", "n_tokens"):
      if type(s[k]) is not int or not number(s[k], 1 if k == "n_tokens" else 0): return f"step {k}={s[k]!r}"
    for k in ("enqueue_latency_ms", "total_latency_ms"):
      if not number(s[k], 0): return f"step {k}={s[k]!r}"
    if s["enqueue_latency_ms"] > s["total_latency_ms"]: return "enqueue > total"
    if s["phase"] not in ("prefill", "decode") or (s["phase"] == "prefill") != (s["step"] == 0): return f"phase {s['phase']!r} at step {s['step']}"
    for k in ("token_id", "bytes_read", "min_bytes_read"):
      if s[k] is not None and (type(s[k]) is not int or not number(s[k], 0)): return f"step {k}={s[k]!r}"
    if not isinstance(s["text"], str): return "text"
    if (s["run"], s["step"]) in seen: return f"run {s['run']} step {s['step']} twice"
    seen.add((s["run"], s["step"]))
    by_run[s["run"]] = by_run.get(s["run"], 0) + 1
  for r, n in by_run.items():
    if {s for (q, s) in seen if q == r} != set(range(n)): return f"run {r}: steps not 0..{n - 1}"
  runs = [r["run"] for r in log.runs]
  if len(runs) != len(set(runs)): return "a run line twice"
  for r in log.runs:
    for k, v in r.items():
      if isinstance(v, (int, float)) and not isinstance(v, bool) and not number(v): return f"run {k}={v!r}"
    if r.get("n_token_chunks") is not None and r["n_token_chunks"] != by_run.get(r["run"], 0): return "n_token_chunks"
  if log.ok:
    if sorted(by_run) != sorted(runs) or sorted(runs) != list(range(len(runs))) or not runs: return "runs of an ok log"
    if h.get("mode") not in SERVING and any(n != int(h["n_decode_steps"]) + 1 for n in by_run.values()): return "a short run in an ok log"
  return ""

def test_fuzz_parse_and_collate(tmp_path):
  rng = random.Random(SEED)
  serving = write_log(tmp_path / "serving.txt", runs=3, n_decode=4, serving=True, text="a\u2028\"b\"", header={"model_name": "x\u2029y"})
  sources = [(p.name.partition("_")[0], p.read_bytes()) for p in SOURCES] + [("llamacpp", serving.read_bytes())]
  counts = {"raised": 0, "rejected": 0, "accepted clean": 0, "accepted corrupt": 0}
  surprises = []
  for batch in range(MUTANTS // BATCH):
    folder = tmp_path / f"batch{batch}"
    folder.mkdir()
    for p in SOURCES: shutil.copy(p, folder / p.name)
    shutil.copy(serving, folder / "llamacpp_serving.txt")
    baseline = {b: collate.collate(b, folder)[0].read_bytes() for b in ("llamacpp", "tinygrad")}
    expect = {}  # mutant file -> its rows if accepted, else None
    for i in range(BATCH):
      backend, source = rng.choice(sources)
      path = folder / f"{backend}_m{batch}x{i:04d}.txt"
      path.write_bytes(mutant(source, rng, f"m{batch}x{i:04d}"))
      try:
        log = parse(path)
        if why := corrupt(log): counts["accepted corrupt"] += 1; surprises.append(f"{path.name}: accepted {why}")
        else: counts["accepted clean"] += 1
        expect[path.name] = max(log.table.num_rows, 1)
      except LogError: counts["rejected"] += 1; expect[path.name] = None
      except Exception as e: counts["raised"] += 1; surprises.append(f"{path.name}: {type(e).__name__}: {str(e)[:100]}")  # noqa: BLE001
    for backend in ("llamacpp", "tinygrad"):
      out, err = io.StringIO(), io.StringIO()
      with redirect_stdout(out), redirect_stderr(err): rc = collate.main(backend, ["-d", str(folder)])
      err = err.getvalue()
      assert rc in (0, 1) and "Traceback" not in err
      reported = {Path(m.group(1)).name for m in re.finditer(r"^skipped (.+?\.txt)(?::\d+)?: .", err, re.M)}
      assert len(reported) == len(err.splitlines()), err  # every message is 'skipped file:line: why'
      path = collate.csv_path(folder, backend)
      assert set(baseline[backend].split(b"\n")) <= set(path.read_bytes().split(b"\n")), "a valid log's row was lost or changed"
      table = pcsv.read_csv(path, parse_options=pcsv.ParseOptions(newlines_in_values=True),
                            convert_options=pcsv.ConvertOptions(include_columns=["log_file", *NUMBERS], column_types={"log_file": pa.string()}))
      per_file = dict(zip(*table.group_by("log_file").aggregate([("log_file", "count")]).to_pydict().values()))
      for name, n in expect.items():
        if not name.startswith(f"{backend}_"): continue
        if n is None: assert name in reported, f"{name} rejected by parse but not reported by collate"
        else: assert per_file.get(name) == n or name in reported, f"{name}: {per_file.get(name)} rows, expected {n}"
      for c in NUMBERS:  # every number collated is finite and non-negative (blank where there is none)
        assert pa.types.is_floating(table[c].type) or pa.types.is_integer(table[c].type) or table[c].null_count == len(table), c
        values = table[c].to_numpy(zero_copy_only=False).astype(float)
        assert not (~np.isfinite(values[~np.isnan(values)])).any() and not (values[~np.isnan(values)] < 0).any(), c
  print(f"\n{MUTANTS} mutants: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
  assert not surprises, "\n".join(surprises[:20])
  assert counts["rejected"] > MUTANTS // 2 and counts["accepted clean"] > MUTANTS // 20  # the mutations bite, and not all of them
