"""Collate: whatever one file holds, the others collate; the CSV holds every log's rows once, derived right."""
import csv, gzip, math, os, random, shutil, socket, sys
from pathlib import Path
import pytest
from inferbench.core import files
from inferbench.store import collate
from inferbench.store.rawlog import parse
from test_rawlog import RESULTS, mutate, write_log

def read(path: Path) -> list[dict]:
  csv.field_size_limit(sys.maxsize)  # the csv module's own limit (128 KiB a field), not the CSV's
  with open(path, newline="", encoding="utf-8") as f: return list(csv.DictReader(f))

def logs(folder: Path, n: int = 3, **kw) -> list[Path]:
  return [write_log(folder / f"llamacpp_{i}.txt", header={"uuid": f"u{i}", "started_at": f"2026-11-22T18:0{i}:00+00:00"}, **kw)
          for i in range(n)]

def test_rows_match_the_published_csvs_of_the_same_logs(tmp_path):
  """docs/results holds the logs and the CSVs the earlier collate made from them: the same numbers, in the same order."""
  for sub, backend in [("cpu", "tinygrad"), ("h100", "llamacpp")]:
    for p in (RESULTS[0].parent.parent / sub).glob(f"{backend}_*.txt"): shutil.copy(p, tmp_path)
    path, n, problems = collate.collate(backend, tmp_path)
    with gzip.open(RESULTS[0].parent.parent / sub / f"{backend}.csv.gz", "rt", newline="", encoding="utf-8") as f: old = list(csv.DictReader(f))
    new = read(path)
    assert not problems and n == len(new) == len(old)
    for a, b in zip(new, old):
      for c in b:
        if c == "settings" or a[c] == b[c]: continue  # settings leaves out roofline.* and long descriptions now
        assert math.isclose(float(a[c]), float(b[c]), rel_tol=1e-9), (c, a[c], b[c])

def test_derived_and_new_columns(tmp_path):
  write_log(tmp_path / "llamacpp_a.txt", header={"ctx": 256, "batch": 1, "predicted_bytes": 5000, "memory_limit_bytes": 8000})
  mutate(tmp_path / "llamacpp_a.txt", '"internal_prefill_tokens": 4}', '"internal_prefill_tokens": 4, "peak_rss_bytes": 7, "peak_device_bytes": 9}', 2)
  path, n, _ = collate.collate("llamacpp", tmp_path)
  rows = read(path)
  assert n == len(rows) == 8 and list(rows[0])[:16] == collate.SEED_COLUMNS and list(rows[0]) == collate.COLUMNS
  dec = rows[1]
  assert (dec["ctx"], dec["n_decode_steps"], dec["batch"], dec["predicted_bytes"], dec["memory_limit_bytes"]) == ("256", "3", "1", "5000", "8000")
  assert (dec["peak_rss_bytes"], dec["peak_device_bytes"], dec["phase"], dec["run"], dec["step"]) == ("7", "9", "decode", "0", "1")
  assert float(dec["tokens_per_sec"]) == pytest.approx(1e3 / 3.0, rel=1e-6)               # 1 token in 3 ms
  assert float(dec["memory_throughput_gb_s"]) == pytest.approx(101 / 3e-3 / 1e9, abs=1e-6)  # min_bytes_read, no counter
  assert float(dec["param_throughput_gb_s"]) == pytest.approx(1000 / 3e-3 / 1e9, abs=1e-6)
  assert dec["memory_bytes_source"] == "model geometry" and dec["roofline_gb_s"] == "10.0"

def test_settings_carry_the_backends_short_dotted_keys(tmp_path):
  write_log(tmp_path / "llamacpp_a.txt", header={"llamacpp.flash_attn": 1, "llamacpp.system_info": "CPU : AVX = 1 | " * 10,
                                                 "roofline.method": "numpy", "version.numpy": "2.4.6"})
  (row, *_) = read(collate.collate("llamacpp", tmp_path)[0])
  assert row["settings"] == '{"llamacpp.flash_attn": "1"}' and row["versions"] == '{"numpy": "2.4.6"}'

def test_text_round_trips_through_the_csv(tmp_path):
  text = 'a,"b"\n\r c\u2028' + "x" * 150_000  # quotes, commas, line breaks, a field over csv's default limit
  write_log(tmp_path / "llamacpp_a.txt", text=text, runs=1, n_decode=1)
  for _ in range(2):  # the second collate reads the first one's CSV back
    path, n, problems = collate.collate("llamacpp", tmp_path)
    assert not problems and [r["generated_text"] for r in read(path)] == ["", text]

def test_idempotent_ordered_and_keeps_rows_of_gone_logs(tmp_path):
  paths = logs(tmp_path)
  path, n, _ = collate.collate("llamacpp", tmp_path)
  first = path.read_bytes()
  assert n == 24 and [r["uuid"] for r in read(path)][::8] == ["u0", "u1", "u2"]
  assert collate.collate("llamacpp", tmp_path)[1] == 24 and path.read_bytes() == first
  paths[1].unlink()
  assert collate.collate("llamacpp", tmp_path)[1] == 24 and path.read_bytes() == first

def test_a_bad_file_is_reported_and_the_others_still_collate(tmp_path, capsys):
  logs(tmp_path, 2)
  write_log(tmp_path / "llamacpp_bad.txt", header={"uuid": "b"})
  mutate(tmp_path / "llamacpp_bad.txt", '"total_latency_ms": 3.0', '"total_latency_ms": "fast"')
  (tmp_path / "llamacpp_dir.txt").mkdir()
  os.mkfifo(tmp_path / "llamacpp_fifo.txt")  # opened, it would hang the collate
  (tmp_path / "llamacpp_link.txt").symlink_to(tmp_path / "gone")
  sock = socket.socket(socket.AF_UNIX)
  sock.bind(str(tmp_path / "llamacpp_sock.txt"))
  assert collate.main("llamacpp", ["-d", str(tmp_path)]) == 1
  out, err = capsys.readouterr()
  sock.close()
  assert "Traceback" not in err and "16 rows, 5 file(s) skipped" in out
  assert f"skipped {tmp_path}/llamacpp_bad.txt:15: step: total_latency_ms is str 'fast', not float" in err
  for name, why in [("dir", "a directory"), ("fifo", "a FIFO"), ("link", "a dangling symlink"), ("sock", "a socket")]:
    assert f"skipped {tmp_path}/llamacpp_{name}.txt: " in err and why in err
  assert {r["uuid"] for r in read(tmp_path / "llamacpp.csv")} == {"u0", "u1"}

def test_two_logs_with_one_uuid_are_a_conflict_and_neither_replaces_the_other(tmp_path, capsys):
  first = write_log(tmp_path / "llamacpp_a.txt")
  path, _, _ = collate.collate("llamacpp", tmp_path)
  before = path.read_bytes()
  lines = first.read_text().splitlines(keepends=True)
  (tmp_path / "llamacpp_0_copy.txt").write_text("".join(lines[:-3]) + "status: failed: cut short\n")  # sorts first, a step less
  assert collate.main("llamacpp", ["-d", str(tmp_path)]) == 1
  assert "llamacpp_0_copy.txt:4: uuid u1 is also llamacpp_a.txt's" in capsys.readouterr().err
  assert path.read_bytes() == before
  path.unlink()  # a fresh folder: the first to start wins, the other is reported
  mutate(tmp_path / "llamacpp_0_copy.txt", "started_at: 2026-11-22T18:00:00", "started_at: 2026-11-22T19:00:00")
  _, n, problems = collate.collate("llamacpp", tmp_path)
  assert n == 8 and [p.path.name for p in problems] == ["llamacpp_0_copy.txt"] and path.read_bytes() == before
  first.unlink()  # the CSV's rows came from llamacpp_a.txt, now gone: the copy does not take them over
  _, n, problems = collate.collate("llamacpp", tmp_path)
  assert n == 8 and "(in the CSV)" in str(problems[0]) and path.read_bytes() == before

@pytest.mark.parametrize("damage", [b"\xff\xfe not utf-8\n", b"a,b,c\n1,2,3\n", b'step,uuid\n"1,u1\n', lambda good: good.replace(b",", b";")])
def test_a_damaged_csv_is_moved_aside_and_rebuilt(tmp_path, capsys, damage):
  logs(tmp_path, 2)
  path, _, _ = collate.collate("llamacpp", tmp_path)
  good = path.read_bytes()
  bad = damage(good) if callable(damage) else damage
  path.write_bytes(bad)
  path, n, problems = collate.collate("llamacpp", tmp_path)
  assert not problems and n == 16 and path.read_bytes() == good
  assert "cannot be read back" in capsys.readouterr().err and (tmp_path / "llamacpp.csv.damaged").read_bytes() == bad

def test_whatever_the_csv_holds_the_logs_rows_come_back(tmp_path, capsys):
  logs(tmp_path, 2)
  path, _, _ = collate.collate("llamacpp", tmp_path)
  good = path.read_bytes()
  rng = random.Random(7)
  for _ in range(100):
    bad = bytearray(good)
    for _ in range(rng.randrange(1, 4)):
      at = rng.randrange(len(bad))
      bad[at:at + rng.randrange(1, 40)] = rng.choice([b"", b",", b'"', b"\n", b"\xff", b"u0", b"x" * 200_000, bytes(rng.randrange(256) for _ in range(8))])
    path.write_bytes(bytes(bad))
    rc = collate.main("llamacpp", ["-d", str(tmp_path)])
    assert rc in (0, 1) and "Traceback" not in capsys.readouterr().err
    assert set(good.split(b"\n")) <= set(path.read_bytes().split(b"\n"))  # every row of the logs, as it was

def test_a_csv_from_before_is_read_back(tmp_path):
  """The published CSVs (the earlier column order, without the new columns) keep their rows when their logs are gone;
  columns this version no longer writes (collate.RETIRED) are dropped, the rest kept as they were."""
  with gzip.open(RESULTS[0].parent / "tinygrad.csv.gz", "rt", newline="", encoding="utf-8") as f: old = list(csv.DictReader(f))
  old = [{**r, **{c: "1.5" for c in collate.RETIRED}} for r in old]  # as the version that derived them wrote it
  with open(tmp_path / "tinygrad.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.DictWriter(f, list(old[0])); w.writeheader(); w.writerows(old)
  path, n, problems = collate.collate("tinygrad", tmp_path)
  kept = [c for c in old[0] if c not in collate.RETIRED]
  assert not set(collate.RETIRED) & set(read(path)[0])
  assert not problems and n == len(old) and [{c: r[c] for c in kept} for r in read(path)] == [{c: r[c] for c in kept} for r in old]

def test_failed_log_without_steps_gets_one_row(tmp_path):
  write_log(tmp_path / "llamacpp_a.txt", runs=0, status="failed: out of memory", header={"runs": 3})
  path, n, problems = collate.collate("llamacpp", tmp_path)
  (row,) = read(path)
  assert not problems and n == 1 and row["status"] == "failed: out of memory" and row["step"] == "" and row["uuid"] == "u1"
  assert collate.rows(parse(tmp_path / "llamacpp_a.txt"))[0]["status"] == "failed: out of memory"

# ---- the index beside the CSV (.llamacpp.csv.index): unchanged logs are not read again, and the bytes are the same

@pytest.fixture
def reads(monkeypatch) -> list[str]:
  """The logs collate parses, by name."""
  seen = []
  def spy(path):
    seen.append(Path(path).name)
    return parse(path)
  monkeypatch.setattr(collate, "parse", spy)
  return seen

def test_an_unchanged_log_is_not_read_again(tmp_path, reads):
  paths = logs(tmp_path)
  path, n, _ = collate.collate("llamacpp", tmp_path)
  first, inode = path.read_bytes(), path.stat().st_ino
  reads.clear()
  assert collate.collate("llamacpp", tmp_path)[1] == n == 24 and reads == []  # nothing changed: nothing read, nothing written
  assert path.stat().st_ino == inode and path.read_bytes() == first
  write_log(tmp_path / "llamacpp_3.txt", header={"uuid": "u3", "started_at": "2026-11-22T18:01:30+00:00"})  # sorts between u1 and u2
  mutate(paths[0], "started_at: 2026-11-22T18:00:00", "started_at: 2026-11-22T18:09:00")  # now the last to start
  _, n, _ = collate.collate("llamacpp", tmp_path)
  assert n == 32 and sorted(reads) == ["llamacpp_0.txt", "llamacpp_3.txt"]
  assert [r["uuid"] for r in read(path)][::8] == ["u1", "u3", "u2", "u0"]

def test_the_index_changes_nothing_but_the_time(tmp_path):
  """The same history of logs added, changed, damaged and removed, collated with the index and without it (deleted
  before each collate): the same CSV, byte for byte, every time."""
  rng = random.Random(3)
  a, b = tmp_path / "a", tmp_path / "b"
  for step in range(30):
    op, i, runs = rng.choice(["add", "add", "change", "remove", "bad", "damage index", "touch csv"]), rng.randrange(6), rng.randrange(1, 3)
    for folder in (a, b):
      folder.mkdir(exist_ok=True)
      log = folder / f"llamacpp_{i}.txt"
      if op == "add" and not log.exists():
        write_log(log, runs=runs, header={"uuid": f"u{i}", "started_at": f"2026-11-22T18:0{i}:00+00:00"})
      elif op == "change" and log.exists(): mutate(log, "size: tiny", f"size: tiny{step}")
      elif op == "remove": log.unlink(missing_ok=True)
      elif op == "bad" and log.exists(): mutate(log, "status: ok", "status: ok\nstep {}")
      elif op == "damage index" and collate.index_path(folder / "llamacpp.csv").exists(): collate.index_path(folder / "llamacpp.csv").write_text("{")
      elif op == "touch csv" and (folder / "llamacpp.csv").exists(): os.utime(folder / "llamacpp.csv")
    collate.index_path(b / "llamacpp.csv").unlink(missing_ok=True)
    ra, rb = collate.collate("llamacpp", a), collate.collate("llamacpp", b)
    assert ra[1] == rb[1] and [str(p) for p in ra[2]] == [str(p).replace(str(b), str(a)) for p in rb[2]], (step, op)
    assert (a / "llamacpp.csv").read_bytes() == (b / "llamacpp.csv").read_bytes(), (step, op)

def test_a_csv_written_past_the_page_cache_holds_every_byte(tmp_path, monkeypatch):
  """atomic_file(direct=True): pieces of every size across the aligned blocks, a flush (collate's copy_file_range
  appends after one) and ordinary writes after it, the same bytes as written."""
  monkeypatch.setattr(files, "DIRECT_BLOCK", 1 << 13)
  rng, pieces = random.Random(5), []
  with files.atomic_file(tmp_path / "a.csv", direct=True) as out:
    for i in range(200):
      pieces.append(rng.randbytes(rng.choice([1, 7, 4096, 8191, 8192, 8193, 20_000])))
      out.write(pieces[-1])
      if i == 150: out.flush()
  assert (tmp_path / "a.csv").read_bytes() == b"".join(pieces) and os.listdir(tmp_path) == ["a.csv"]
