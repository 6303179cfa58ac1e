"""benchmark_analysis.py: known values give the known statistics; malformed CSVs stop it with one clear line."""
import csv, math
from pathlib import Path
import pytest
from benchdata import real_csvs, script
from inferbench import analysis
from inferbench.collate import COLUMNS

BASE = {"status": "ok", "backend": "llamacpp", "device": "cpu", "hostname": "h1", "size": "tiny", "quantize": "default",
        "seed": "42", "uuid": "u1", "weights": "real", "model_type": "F16", "bits_per_weight": "16.0", "settings": "{}", "threads": "1",
        "started_at": "2026-01-01T00:00:00+00:00"}

def step(run: int, phase: str, ms: float, n: int = 1, **kw) -> dict:
  return {**BASE, "run": str(run), "phase": phase, "total_latency_ms": str(ms), "enqueue_latency_ms": "0", "n_step_tokens": str(n), **kw}

def write(path: Path, rows: list[dict], columns=COLUMNS) -> Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
    w.writeheader()
    w.writerows({c: r.get(c, "") for c in columns} for r in rows)
  return path

def known(folder: Path) -> Path:
  """Two runs: decode 10, 20 | 30, 40 ms; prefill 100 | 200 ms for 10 tokens; llama.cpp's timer says 24 and 56 ms."""
  rows = [step(0, "prefill", 100, 10, internal_run_decode_ms="24", memory_throughput_gb_s="1", param_throughput_gb_s="2"),
          step(0, "decode", 10, internal_run_decode_ms="24", memory_throughput_gb_s="1", param_throughput_gb_s="2"),
          step(0, "decode", 20, internal_run_decode_ms="24", memory_throughput_gb_s="2", param_throughput_gb_s="4"),
          step(1, "prefill", 200, 10, internal_run_decode_ms="56", memory_throughput_gb_s="3", param_throughput_gb_s="6"),
          step(1, "decode", 30, internal_run_decode_ms="56", memory_throughput_gb_s="3", param_throughput_gb_s="6"),
          step(1, "decode", 40, internal_run_decode_ms="56", memory_throughput_gb_s="4", param_throughput_gb_s="8"),
          step(2, "decode", 9999, status="failed: crashed")]  # not ok: left out
  return write(folder / "llamacpp.csv", rows)

def test_known_statistics(tmp_path):
  known(tmp_path)
  dec, pre = analysis.summarize(analysis.load(tmp_path))
  assert (dec["phase"], pre["phase"]) == ("decode", "prefill")
  assert dec["count"] == 4 and dec["n_runs"] == 2 and dec["n_configs"] == 1
  std = math.sqrt(sum((x - 25) ** 2 for x in (10, 20, 30, 40)) / 3)
  assert dec["latency_ms_mean"] == pytest.approx(25) and dec["latency_ms_std"] == pytest.approx(std)
  assert dec["latency_ms_ci95_high"] - 25 == pytest.approx(3.182 * std / 2)  # Student t, 3 degrees of freedom
  assert dec["latency_ms_median"] == pytest.approx(25)
  assert dec["latency_ms_p90"] == pytest.approx(37) and dec["latency_ms_p99"] == pytest.approx(39.7)  # linear interpolation
  assert dec["tok_s_median"] == pytest.approx((50 + 1000 / 30) / 2) and dec["tok_s_mean"] == pytest.approx((100 + 50 + 1000 / 30 + 25) / 4)
  assert dec["cv"] == pytest.approx(std / 25) and dec["noisy"]
  assert dec["mem_gb_s_mean"] == pytest.approx(2.5) and dec["param_gb_s_median"] == pytest.approx(5)
  assert dec["harness_internal_ratio"] == pytest.approx(100 / 80) and "harness/internal 1.250" in dec["flags"]
  # prefill: the prompt's 10 tokens per step, so 10 and 20 ms per token
  assert pre["count"] == 2 and pre["latency_ms_mean"] == pytest.approx(15) and pre["step_ms_median"] == pytest.approx(150)
  assert pre["tok_s_mean"] == pytest.approx(75) and pre["tokens_per_step"] == 10

def test_seeds_pooled_or_split_and_settings_never_pooled(tmp_path):
  off, on = '{"llamacpp.flash_attn": "0"}', '{"llamacpp.flash_attn": "1"}'
  write(tmp_path / "llamacpp.csv", [step(0, "decode", 10, settings=off), step(0, "decode", 12, seed="7", uuid="u2", settings=off),
                                    step(0, "decode", 5, uuid="u3", settings=on)])
  pooled = analysis.summarize(analysis.load(tmp_path))
  assert sorted((r["variant"], r["count"], r["seed"]) for r in pooled) == [("flash_attn=0", 2, "42; 7"), ("flash_attn=1", 1, "42")]
  split = analysis.summarize(analysis.load(tmp_path), split_seeds=True)
  assert sorted((r["variant"], r["seed"]) for r in split) == [("flash_attn=0", "42"), ("flash_attn=0", "7"), ("flash_attn=1", "42")]

def test_script_writes_summary_and_skips_foreign_csvs(tmp_path):
  known(tmp_path)
  write(tmp_path / "sweep_tiny.csv", [{"quant": "Q8_0"}], columns=["quant", "decode_tok_s"])
  write(tmp_path / "membw.csv", [{"a": "1"}], columns=["a"])  # someone else's file: skipped, said so, no error
  r = script("benchmark_analysis.py", "-d", str(tmp_path))
  assert r.returncode == 0, r.stderr
  assert "llamacpp" in r.stdout and "decode" in r.stdout and "prefill" in r.stdout
  assert "membw.csv" in r.stderr and "no data for: tinygrad, mlc" in r.stderr
  rows = analysis.read_summary(tmp_path / "summary.csv")
  assert [r["phase"] for r in rows] == ["decode", "prefill"] and rows[0]["latency_ms_mean"] == pytest.approx(25)
  assert rows[0]["noisy"] is True and rows[0]["source_csv"] == "llamacpp.csv"
  assert not list(tmp_path.glob(".summary.csv.*"))  # the atomic write left no temporary file

@pytest.mark.parametrize("damage, expect", [
  (lambda p: p.write_text("step,foo\n1,2\n"), "not a collated benchmark CSV (no column backend"),
  (lambda p: p.write_text(p.read_text().replace(",10,", ",ten,", 1)), "is 'ten', not a number"),
  (lambda p: p.write_text(p.read_text() + "1,2,3\n"), "3 cells, the header has"),
  (lambda p: p.write_bytes(b"\xff\xfe\x00garbage"), "unreadable as CSV"),
])
def test_malformed_csv_is_one_clear_line(tmp_path, damage, expect):
  damage(known(tmp_path))
  r = script("benchmark_analysis.py", "-d", str(tmp_path))
  assert r.returncode == 2
  lines = r.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(f"error: {tmp_path / 'llamacpp.csv'}") and expect in lines[0], r.stderr
  assert "llamacpp_collate.py" in lines[0]  # the way out
  assert not (tmp_path / "summary.csv").exists()

def test_no_data_is_an_error(tmp_path):
  r = script("benchmark_analysis.py", "-d", str(tmp_path / "absent"))
  assert r.returncode == 2 and "run a benchmark" in r.stderr

def test_real_csvs_both_backends(tmp_path_factory, tiny_model):
  folder = real_csvs(tmp_path_factory.getbasetemp(), tiny_model)
  summary = analysis.summarize(analysis.load(folder))
  assert {(r["backend"], r["quantize"], r["phase"]) for r in summary} == \
    {(b, q, p) for b, q in (("llamacpp", "default"), ("llamacpp", "int8"), ("tinygrad", "default")) for p in ("decode", "prefill")}
  for r in summary:
    assert r["n_runs"] == 2 and r["count"] == (12 if r["phase"] == "decode" else 2) and r["weights"] == "synthetic"
    assert r["tok_s_median"] > 0 and r["latency_ms_min"] <= r["latency_ms_median"] <= r["latency_ms_max"]
    assert (r["memory_bytes_source"] == "backend counter") == (r["backend"] == "tinygrad")
    # llama.cpp's own timer agrees with the harness's within 25% even on a loaded machine; tinygrad has none
    assert (0.75 < r["harness_internal_ratio"] < 1.25) if r["backend"] == "llamacpp" else math.isnan(r["harness_internal_ratio"])

def test_roofline_columns_when_present(tmp_path):
  write(tmp_path / "llamacpp.csv", [step(0, "decode", 10, memory_throughput_gb_s="5", roofline_gb_s="20")],
        columns=[*COLUMNS, "roofline_gb_s"])
  (dec,) = analysis.summarize(analysis.load(tmp_path))
  assert dec["roofline_gb_s"] == 20 and dec["pct_of_roofline"] == pytest.approx(25)
  write(tmp_path / "llamacpp.csv", [step(0, "decode", 10, memory_throughput_gb_s="5", roofline_gb_s="20", pct_of_roofline="31")],
        columns=[*COLUMNS, "roofline_gb_s", "pct_of_roofline"])
  (dec,) = analysis.summarize(analysis.load(tmp_path))
  assert dec["pct_of_roofline"] == pytest.approx(31)  # the measurement's own figure wins
  (plain,) = analysis.summarize(analysis.load(known(tmp_path / "none").parent))[:1]
  assert math.isnan(plain["roofline_gb_s"]) and math.isnan(plain["pct_of_roofline"])
