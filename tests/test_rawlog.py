"""The raw-log format: what the writer writes the parser reads back exactly, and everything else is a LogError
naming the file, the line and the field."""
import os, socket
from pathlib import Path
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from inferbench.store import rawlog
from inferbench.store.rawlog import LogError, LogWriter, parse
from inferbench.core.config import RunConfig

ROOT = Path(__file__).resolve().parent.parent
RESULTS = sorted(p for d in ("cpu", "h100") for p in (ROOT / "docs" / "results" / d).glob("*_uuid*.txt") if "schema: 1\n" in p.read_text()[:60])  # the logs published before schema 2
BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # every character str.splitlines breaks a line on

def write_log(path: Path, runs: int = 2, n_decode: int = 3, status: str = "ok", header: dict | None = None, text: str = "",
              serving: bool = False) -> Path:
  """A small valid log as the worker (or client.py) writes one."""
  w = LogWriter(path)
  h = {"backend": "llamacpp", "uuid": "u1", "size": "tiny", "seed": 1, "threads": 1, "n_prompt_tokens": 4, "n_decode_steps": n_decode,
       "runs": runs, "started_at": "2026-11-22T18:00:00+00:00", "model_bytes": 1000, "roofline_gb_s": 10.0}
  if serving: h |= {"mode": "endpoint", "concurrency": 1, "requests": runs}
  w.header(h | (header or {}))
  for r in range(runs):
    for i in range(n_decode + 1):
      w.step(run=r, phase="decode" if i else "prefill", step=i, position=3 + i if i else 0, n_tokens=1 if i else 4,
             token_id=None if serving else 7 + i, enqueue_latency_ms=0.5, total_latency_ms=2.0 + i,
             **({} if serving else {"bytes_read": None, "min_bytes_read": 100 + i}), text=text * i)
    w.run(run=r, **({"n_token_chunks": n_decode + 1, "start_ms": 1.0 * r, "e2e_latency_ms": 20.0, "usage_completion_tokens": n_decode + 1,
                     "tokens_match": True, "finish_reason": "length"} if serving else {"internal_decode_steps": n_decode, "internal_prefill_tokens": 4}))
  w.close(status)
  return path

@pytest.mark.parametrize("path", RESULTS, ids=lambda p: f"{p.parent.name}/{p.name[:30]}")
def test_every_published_schema_1_log_still_parses(path):
  log = parse(path)
  assert log.ok and log.header["schema"] == "1" and log.steps
  n = int(log.header["n_decode_steps"])
  assert {s["run"] for s in log.steps} == {r["run"] for r in log.runs}
  assert len(log.steps) == len(log.runs) * (n + 1)

def test_the_worker_and_serving_shapes_parse(tmp_path):
  log = parse(write_log(tmp_path / "a.txt"))
  assert log.ok and log.header["schema"] == "2" and len(log.steps) == 8 and log.steps[1]["position"] == 4
  log = parse(write_log(tmp_path / "b.txt", serving=True))
  assert log.ok and log.steps[0]["token_id"] is None and log.steps[0]["min_bytes_read"] is None

@settings(max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(), value=st.text(), status=st.text())
def test_any_text_and_header_value_reads_back_equal(tmp_path_factory, text, value, status):
  path = tmp_path_factory.mktemp("prop") / "p.txt"
  write_log(path, runs=1, n_decode=2, text=text, header={"model_name": value, "llamacpp.note": value + "\u2028" + value},
            status="failed: " + status)
  log = parse(path)
  assert [s["text"] for s in log.steps] == ["", text, text * 2]
  assert log.header["model_name"] == value and log.header["llamacpp.note"] == value + "\u2028" + value
  assert log.status == "failed: " + status
  data = path.read_text(encoding="utf-8")
  assert data.splitlines() == data.split("\n")[:-1]  # no line breaks but the writer's own

def test_every_line_break_character_is_escaped(tmp_path):
  path = write_log(tmp_path / "x.txt", runs=1, n_decode=1, text=BREAKS, header={"model_name": BREAKS}, status="failed: " + BREAKS)
  data = path.read_text(encoding="utf-8")
  assert data.splitlines() == data.split("\n")[:-1]
  log = parse(path)
  assert log.steps[1]["text"] == BREAKS and log.header["model_name"] == BREAKS and log.status == "failed: " + BREAKS

def test_lone_surrogates_are_written_as_replacement_characters(tmp_path):
  log = parse(write_log(tmp_path / "x.txt", runs=1, n_decode=1, text="a\ud800b", header={"model_name": "\udfff"}))
  assert log.steps[1]["text"] == "a\ufffdb" and log.header["model_name"] == "\ufffd"

def mutate(path: Path, old: str, new: str, count: int = 1) -> Path:
  data = path.read_text(encoding="utf-8")
  assert old in data, old
  path.write_text(data.replace(old, new, count), encoding="utf-8")
  return path

# (old, new, line, message): replacing old by new in write_log's log must fail on that line with that message
STEP1 = '"run": 0, "phase": "decode", "step": 1, "position": 4, "n_tokens": 1, "token_id": 8, "enqueue_latency_ms": 0.5, "total_latency_ms": 3.0'
BAD = [
  ('"total_latency_ms": 3.0', '"total_latency_ms": NaN', 15, "total_latency_ms is not a finite number"),
  ('"total_latency_ms": 3.0', '"total_latency_ms": Infinity', 15, "total_latency_ms is not a finite number"),
  ('"total_latency_ms": 3.0', '"total_latency_ms": 1e999', 15, "total_latency_ms is not a finite number"),
  ('"total_latency_ms": 3.0', '"total_latency_ms": "3.0"', 15, "total_latency_ms is str '3.0', not float"),
  ('"total_latency_ms": 3.0', '"total_latency_ms": [3.0]', 15, "total_latency_ms is list [3.0], not float"),
  ('"total_latency_ms": 3.0', '"total_latency_ms": {"ms": 3.0}', 15, "total_latency_ms is dict {'ms': 3.0}, not float"),
  ('"total_latency_ms": 3.0', '"total_latency_ms": null', 15, "total_latency_ms is missing or null"),
  ('"total_latency_ms": 3.0', '"total_latency_ms": ' + "[" * 100000 + "]" * 100000, 15, "JSON nested 100,001 deep (at most 32)"),
  ('"total_latency_ms": 3.0', '"total_latency_ms": 0.1', 15, "enqueue_latency_ms exceeds total_latency_ms"),
  ('"token_id": 8', '"token_id": ' + "9" * 5000, 15, "token_id is a number of 5,000 characters"),
  ('"token_id": 8', '"token_id": 9223372036854775808', 15, "token_id is 9223372036854775808, out of range"),
  ('"token_id": 8', '"token_id": true', 15, "token_id is bool True, not int"),
  ('"token_id": 8', '"token_id": 8, "token_id": 9', 15, "key 'token_id' twice"),
  ('"token_id": 8', '"token_id": 8, "color": 1', 15, "unknown field 'color'"),
  ('"n_tokens": 1, "token_id": 8', '"n_tokens": -1, "token_id": 8', 15, "n_tokens is below 1"),
  ('"position": 4, "n_tokens": 1, "token_id": 8', '"position": -4, "n_tokens": 1, "token_id": 8', 15, "position is below 0"),
  ('"min_bytes_read": 101', '"min_bytes_read": -101', 15, "min_bytes_read is below 0"),
  ('"position": 4, "n_tokens": 1, "token_id": 8', '"position": 5, "n_tokens": 1, "token_id": 8', 15, "position must be the prompt's length + step - 1"),
  ('"phase": "decode", "step": 1,', '"phase": "warmup", "step": 1,', 15, "phase is not one of prefill, decode"),
  ('"phase": "decode", "step": 1,', '"phase": "prefill", "step": 1,', 15, "phase must be prefill at step 0"),
  ('"step": 2, "position": 5', '"step": 1, "position": 4', 16, "run 0 has step 1 twice"),
  ('"step": 3, "position": 6', '"step": 4, "position": 7', 17, "run 0 lacks step 3"),
  ('"text": "x"}', '"text": "\\ud800"}', 15, "a lone surrogate escape"),
  ('"text": "x"}', '"text": "x"} {"run": 0}', 15, "not valid JSON"),
  ('"internal_decode_steps": 3', '"internal_decode_steps": 4', 18, "internal_decode_steps is 4, but run 0's step lines say 3"),
  ("threads: 1\n", "threads: abc\n", 7, "threads is 'abc', not int"),
  ("threads: 1\n", "threads: 0\n", 7, "threads is 0, below 1"),
  ("seed: 1\n", "seed: 1e999\n", 6, "seed is '1e999', not int"),
  ("roofline_gb_s: 10.0\n", "roofline_gb_s: Infinity\n", 13, "roofline_gb_s is 'Infinity', not float"),
  ("roofline_gb_s: 10.0\n", "roofline_gb_s: 1e999\n", 13, "roofline_gb_s is not a finite number"),
  ("n_decode_steps: 3\n", "n_decode_steps: 3\nthreads: 2\n", 10, "header key 'threads' twice (first on line 7)"),
  ("uuid: u1\n", "", 0, "the header has no uuid"),
  ("uuid: u1\n", "uuid: u 1\n", 4, "uuid is 'u 1', not a uuid"),
  ("size: tiny\n", 'size: a"b\n', 5, "not JSON-escaped text"),
  ("schema: 2\n", "schema: 3\n", 2, "this inferbench reads schemas 1 and 2"),
  ("status: ok\n", "status: ok\nstep {}\n", 25, "text after the final status line"),
  ("status: ok\n", "", 23, "no final status line"),
  ("status: ok\n", "status: ok", 24, "the last line has no line break"),
  ('"text": "x"}\n', '"text": "x"', 15, "not valid JSON"),
  ("size: tiny\n", "size: tiny\nsize tiny\n", 6, "neither 'key: value', step, run nor status"),
]

@pytest.mark.parametrize("old, new, line, message", BAD, ids=[f"{i}:{m[:30]}" for i, (_, _, _, m) in enumerate(BAD)])
def test_bad_values_are_a_log_error_naming_line_and_field(tmp_path, old, new, line, message):
  path = mutate(write_log(tmp_path / "x.txt", text="x"), old, new)
  with pytest.raises(LogError) as e: parse(path)
  assert e.value.line == line and message in e.value.why, str(e.value)
  assert str(e.value).startswith(f"{path}:{line}: " if line else f"{path}: ")

@pytest.mark.parametrize("change, message", [
  (lambda p: mutate(p, '"step": 3, "position": 6', '"step": 2, "position": 5'), "run 0 has step 2 twice"),
  (lambda p: mutate(p, 'step {"run": 1, "phase": "decode", "step": 3, "position": 6', 'step {"run": 0, "phase": "decode", "step": 4, "position": 7'),
   "internal_decode_steps is 3, but run 0's step lines say 4"),
  (lambda p: p.write_text("".join(l for l in p.read_text().splitlines(keepends=True) if '"step": 3' not in l or '"run": 1' not in l)
                         .replace('run {"run": 1, "internal_decode_steps": 3, "internal_prefill_tokens": 4}', 'run {"run": 1}')),
   "run 1 has 3 step lines, a complete run has n_decode_steps \\+ 1 = 4"),
  (lambda p: mutate(p, "runs: 2\n", "runs: 3\n"), "status ok with 2 runs, but the header says 3"),
  (lambda p: mutate(p, 'run {"run": 1,', 'run {"run": 0,'), "run 0 has a second run line"),
  (lambda p: mutate(p, 'run {"run": 1,', 'run {"run": 7,'), "run 7 has no step lines"),
  (lambda p: p.write_text(p.read_text().replace(p.read_text().splitlines(keepends=True)[-2], "")), "run 1 has no run line, yet the status is ok"),
])
def test_a_complete_log_has_every_step_of_every_run_once(tmp_path, change, message):
  path = write_log(tmp_path / "x.txt", n_decode=3)
  change(path)
  with pytest.raises(LogError, match=message): parse(path)

def test_numbers_of_the_right_type_and_range_are_accepted_however_written(tmp_path):
  path = mutate(write_log(tmp_path / "x.txt"), '"total_latency_ms": 3.0', '"total_latency_ms": 99999999999999999999')
  mutate(path, '"enqueue_latency_ms": 0.5', '"enqueue_latency_ms": 5E-1')
  log = parse(path)
  assert log.steps[1]["total_latency_ms"] == 1e20 and log.steps[1]["enqueue_latency_ms"] == 0.5

def test_a_big_log_names_its_bad_line_without_reading_it_line_by_line(tmp_path, monkeypatch):
  path = write_log(tmp_path / "x.txt", runs=2, n_decode=rawlog.BISECT_LINES)
  lines = path.read_text().splitlines(keepends=True)
  lines[3000] = lines[3000].replace('"total_latency_ms": ', '"total_latency_ms": "')  # unbalanced: pyarrow rejects it
  path.write_text("".join(lines))
  monkeypatch.setattr(rawlog, "_by_line", None)  # would raise TypeError if called
  with pytest.raises(LogError) as e: parse(path)
  assert e.value.line == 3001 and "step: not valid JSON" in e.value.why

def test_a_failed_log_may_stop_mid_run_but_never_repeat_a_step(tmp_path):
  path = write_log(tmp_path / "x.txt", status="failed: killed by SIGKILL")
  lines = path.read_text().splitlines(keepends=True)
  path.write_text("".join(lines[:-4] + lines[-1:]))  # the last run's last steps and run line are gone
  assert parse(path).status == "failed: killed by SIGKILL"
  path.write_text("".join(lines[:-4] + lines[-5:-4] + lines[-1:]))
  with pytest.raises(LogError, match="run 1 has step 1 twice"): parse(path)

def test_what_serving_writes_parses(tmp_path):
  from inferbench.serving import client
  w = LogWriter(tmp_path / "x.txt")
  w.header({"backend": "endpoint", "uuid": "s1", "mode": "endpoint", "concurrency": 2, "requests": 2, "n_prompt_tokens": 5,
            "n_decode_steps": 2, "n_prompt_tokens_server": "", "reference_completion_tokens": ""})
  cfg = RunConfig(backend="endpoint", mode="endpoint", size="tiny", quantize="q", seed=1, uuid="s1", concurrency=2, requests=2,
                            warmup=0, n_tokens=2, temperature=0.0, slo_ttft_ms=100.0, slo_itl_ms=50.0)
  for run in (1, 0):  # in the order the requests end
    usage = {"completion_tokens": 3, "prompt_tokens": 6, "prompt_tokens_details": {"cached_tokens": 4 * run}}
    client.write(w, client.Result(run, 0.1 * run, 0.01, [0.02, 0.03, 0.05], ["a", "b\u2028", "c"], 0.06, usage, "length", prompt=[7] * 6,
                                  client_cpu_s=0.25 * run), ref_tokens=None, cfg=cfg, expected_cached=2)
  w.close()
  log = parse(tmp_path / "x.txt")
  assert log.ok and [r["run"] for r in log.runs] == [1, 0] and [s["text"] for s in log.steps[:3]] == ["a", "b\u2028", "c"] and log.runs[0]["tokens_match"]
  assert log.runs[0]["meets_slo"] is True and log.steps[0]["n_tokens"] == 6
  # the prompt cache's share: 4 cached tokens beyond the 2 the workload shares is a hit, none is not
  assert [(r["usage_cached_tokens"], r["cache_hit"], r["prompt_tokens"], r["client_cpu_s"]) for r in log.runs] == [(4, True, 6, 0.25), (0, False, 6, 0.0)]

def test_serving_runs_agree_with_their_token_chunks(tmp_path):
  path = mutate(write_log(tmp_path / "x.txt", serving=True), '"n_token_chunks": 4', '"n_token_chunks": 5')
  with pytest.raises(LogError, match="n_token_chunks is 5, but run 0's step lines say 4"): parse(path)

def test_not_utf8_foreign_and_empty_files(tmp_path):
  good = write_log(tmp_path / "g.txt", text="x").read_bytes()
  for name, data, line, message in [("bin.txt", good.replace(b'"text": "x"', b'"text": "\xff"', 1), 15, "not UTF-8 text"),
                                    ("head.txt", good.replace(b"size: tiny", b"size: \xc3", 1), 5, "not UTF-8 text"),
                                    ("foreign.txt", b"hello\n", 1, "not an inferbench log"), ("empty.txt", b"", 1, "not an inferbench log")]:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(LogError) as e: parse(tmp_path / name)
    assert e.value.line == line and message in e.value.why

def test_non_regular_files_are_refused_without_being_opened(tmp_path):
  (tmp_path / "dir.txt").mkdir()
  os.mkfifo(tmp_path / "fifo.txt")  # opening it for reading would block
  (tmp_path / "dangling.txt").symlink_to(tmp_path / "gone")
  sock = socket.socket(socket.AF_UNIX)
  sock.bind(str(tmp_path / "sock.txt"))
  for name, message in [("dir.txt", "a directory"), ("fifo.txt", "a FIFO"), ("dangling.txt", "a dangling symlink"), ("sock.txt", "a socket")]:
    with pytest.raises(LogError, match=message): parse(tmp_path / name)
  sock.close()

def test_append_status_ends_a_cut_line_and_keeps_an_existing_status(tmp_path):
  path = write_log(tmp_path / "x.txt", status="ok")
  rawlog.append_status(path, "failed: worker exited with code 0")
  assert parse(path).status == "ok"
  lines = path.read_bytes().splitlines(keepends=True)
  path.write_bytes(b"".join(lines[:-3]) + lines[-3][:20])  # killed in the middle of a step line
  rawlog.append_status(path, "failed: killed by SIGKILL")
  with pytest.raises(LogError) as e: parse(path)
  assert e.value.line == len(lines) - 2 and "step: not valid JSON" in e.value.why  # the cut line, named; the status stands
  assert path.read_text().endswith("\nstatus: failed: killed by SIGKILL\n")
