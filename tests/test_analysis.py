"""benchmark_analysis.py: the run is the sample, known values give the known statistics, settings are never pooled,
ratios get seeded bootstrap intervals, and malformed CSVs stop it with one clear line."""
import csv, math
from pathlib import Path
import numpy as np
import pytest
from scipy import stats as sps
from benchdata import real_csvs, script
from inferbench.core.config import RunConfig
from inferbench.run import local
from inferbench.serving import client
from inferbench.store import collate
from inferbench.store.rawlog import LogError, LogWriter, parse
from inferbench.analyse import analysis
from inferbench.core import stats
from inferbench.store.collate import COLUMNS, declared

BASE = {"status": "ok", "backend": "llamacpp", "device": "cpu", "hostname": "h1", "size": "tiny", "quantize": "default",
        "seed": "42", "uuid": "u1", "log_file": "llamacpp_u1.txt", "weights": "real", "model_type": "F16", "bits_per_weight": "16.0",
        "settings": "{}", "threads": "1", "n_prompt_tokens": "10", "temperature": "0.0", "git_commit": "abc",
        "started_at": "2026-01-01T00:00:00+00:00"}

def step(run: int, phase: str, ms: float, n: int = 1, **kw) -> dict:
  return {**BASE, "run": str(run), "phase": phase, "total_latency_ms": str(ms), "enqueue_latency_ms": "0", "n_step_tokens": str(n), **kw}

def one_run(run: int, prefill_ms: float, decode_ms: list[float], **kw) -> list[dict]:
  return [step(run, "prefill", prefill_ms, 10, step="0", **kw)] + [step(run, "decode", ms, step=str(i + 1), **kw) for i, ms in enumerate(decode_ms)]

def write(path: Path, rows: list[dict], columns=COLUMNS) -> Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
    w.writeheader()
    w.writerows({c: r.get(c, "") for c in columns} for r in rows)
  return path

DECODE = ([10, 20], [30, 40], [20, 20])  # three runs: 2 decode steps each
def known(folder: Path) -> Path:
  """Three runs; prefill 100, 200, 50 ms for 10 tokens; llama.cpp's own timer says 24, 56 and 40 ms of decode."""
  rows = [*one_run(0, 100, DECODE[0], internal_run_decode_ms="24", min_bytes_read="1000000", roofline_gb_s="0.5"),
          *one_run(1, 200, DECODE[1], internal_run_decode_ms="56", min_bytes_read="1000000", roofline_gb_s="0.5"),
          *one_run(2, 50, DECODE[2], internal_run_decode_ms="40", min_bytes_read="1000000", roofline_gb_s="0.5"),
          step(3, "decode", 9999, status="failed: crashed")]  # not ok: left out
  return write(folder / "llamacpp.csv", rows)

def summarize(folder: Path):
  runs, summary, ratios = analysis.analyse(analysis.load(folder))
  return runs, {r["phase"]: r for r in summary.to_dict("records")}, ratios

def test_a_run_is_the_sample(tmp_path):
  runs, s, _ = summarize(known(tmp_path).parent)
  dec, pre = s["decode"], s["prefill"]
  rates = np.array([2000 / sum(d) for d in DECODE])  # tokens over the sum of step times, per run: 66.7, 28.6, 50
  assert sorted(runs["decode_tok_s"]) == pytest.approx(sorted(rates))
  assert dec["n_runs"] == 3 and dec["n_steps"] == 6 and dec["n_logs"] == 1
  assert dec["tok_s_median"] == pytest.approx(50) and dec["tok_s_mean"] == pytest.approx(rates.mean())
  half = 4.30265273 * rates.std(ddof=1) / math.sqrt(3)  # Student t, 2 degrees of freedom, over the three runs
  assert (dec["tok_s_ci95_low"], dec["tok_s_ci95_high"]) == pytest.approx((rates.mean() - half, rates.mean() + half))
  assert dec["cv"] == pytest.approx(rates.std(ddof=1) / rates.mean()) and dec["noisy"]
  assert dec["latency_ms_p50"] == pytest.approx(20)  # over all 6 steps
  assert math.isnan(dec["latency_ms_p90"]) and math.isnan(dec["latency_ms_p99"])  # 6 steps: too few for either
  # tokens over time per run (48.41 on average), not the mean of per-step rates (51.39: short steps count as much as long ones)
  assert dec["tok_s_mean"] == pytest.approx(48.41, abs=0.01)
  assert pre["tok_s_median"] == pytest.approx(100) and pre["ttft_ms_median"] == pytest.approx(100)  # 10 tokens in 100 ms
  # 1 MB read per decode step: run 0 reads 2 MB in 30 ms = 0.0667 GB/s of a 0.5 GB/s roofline
  assert sorted(runs["pct_of_roofline"]) == pytest.approx(sorted(100 * 2e6 / (np.array([30, 70, 40]) * 1e6) / 0.5))
  # harness vs llama.cpp's own timer: the ratio of run medians (40 / 40), with a paired bootstrap interval
  assert dec["harness_internal_ratio"] == pytest.approx(1.0) and dec["harness_internal_ci95_low"] <= 1.0 <= dec["harness_internal_ci95_high"]

def test_fewer_than_three_runs_give_no_interval(tmp_path):
  write(tmp_path / "llamacpp.csv", [*one_run(0, 100, [10, 20]), *one_run(1, 100, [30, 40])])
  _, s, _ = summarize(tmp_path)
  assert s["decode"]["n_runs"] == 2 and math.isnan(s["decode"]["tok_s_ci95_low"]) and "no CI: 2 run(s)" in s["decode"]["flags"]

def test_percentiles_need_their_samples():
  assert math.isnan(stats.percentile(range(9), 90)) and stats.percentile(range(10), 90) == pytest.approx(8.1)
  assert math.isnan(stats.percentile(range(99), 99)) and stats.percentile(range(100), 99) == pytest.approx(98.01)

def test_t_interval_known_value():
  x = [10.0, 12.0, 14.0, 13.0]
  lo, hi = stats.t_interval(x)
  half = sps.t.ppf(0.975, 3) * np.std(x, ddof=1) / 2
  assert (lo, hi) == pytest.approx((12.25 - half, 12.25 + half)) and half == pytest.approx(3.182446 * np.std(x, ddof=1) / 2)

def test_paired_bootstrap_resamples_the_runs_together():
  """Two timers of the same runs, one 10% above the other whatever the run: every paired resample has the ratio 1.1,
  so its interval is that point; resampled apart, the runs' spread widens it."""
  b = np.array([10.0, 14.0, 9.0, 20.0, 12.0, 16.0, 11.0, 18.0])
  assert stats.bootstrap_ratio(1.1 * b, b, paired=True) == pytest.approx((1.1, 1.1, 1.1))
  _, lo, hi = stats.bootstrap_ratio(1.1 * b, b)
  assert lo < 0.9 and hi > 1.3

def test_bootstrap_ratio_is_seeded_and_brackets_the_ratio():
  rng = np.random.default_rng(3)
  a, b = rng.normal(100, 3, 12), rng.normal(50, 2, 12)
  first = stats.bootstrap_ratio(a, b)
  assert first == stats.bootstrap_ratio(a, b)  # the same data, the same interval
  ratio, lo, hi = first
  assert ratio == pytest.approx(np.median(a) / np.median(b)) and lo < ratio < hi and hi - lo < 0.3
  assert stats.bootstrap_ratio(a, b, seed=1) != first  # the seed is what fixes it
  assert math.isnan(stats.bootstrap_ratio(a[:2], b)[1])  # two runs: a ratio, but no interval

def test_drift_and_outliers_are_flagged_not_dropped():
  assert stats.drift([10, 10.1, 9.9, 10, 20, 20.2, 19.8, 20.1]) and not stats.drift([10, 10.1, 9.9, 10.2, 9.8, 10.1])
  assert stats.mad_outliers([10, 10.2, 9.9, 10.1, 30]) == 1

@pytest.mark.parametrize("column, other", [("n_prompt_tokens", "64"), ("temperature", "0.7"), ("weights", "synthetic"),
                                           ("threads", "2"), ("batch", "4"), ("concurrency", "8"), ("ctx", "2048"),
                                           ("backend_version", "0.3.99")])
def test_configurations_differing_in_any_setting_are_never_pooled(tmp_path, column, other):
  write(tmp_path / "llamacpp.csv", [*one_run(0, 100, [10, 20]), *one_run(0, 100, [30, 40], uuid="u2", log_file="b.txt", **{column: other})])
  summary = analysis.analyse(analysis.load(tmp_path))[1]
  dec = summary[summary["phase"] == "decode"]
  assert len(dec) == 2 and list(dec["n_runs"]) == [1, 1]
  assert dec["label"].nunique() == 2  # the label says what differs

def test_decode_steps_split_configurations(tmp_path):
  write(tmp_path / "llamacpp.csv", [*one_run(0, 100, [10, 20]), *one_run(0, 100, [30, 40, 50], uuid="u2", log_file="b.txt")])
  dec = analysis.analyse(analysis.load(tmp_path))[1].query("phase == 'decode'")
  assert sorted(dec["n_decode_steps"]) == ["2", "3"] and sorted(dec["label"]) == ["2 steps", "3 steps"]

def test_seeds_pool_and_mixed_commits_are_flagged(tmp_path):
  off, on = '{"llamacpp.flash_attn": "0"}', '{"llamacpp.flash_attn": "1"}'
  write(tmp_path / "llamacpp.csv", [*one_run(0, 100, [10], settings=off), *one_run(0, 100, [12], seed="7", uuid="u2", log_file="b.txt", settings=off, git_commit="def"),
                                    *one_run(0, 100, [5], uuid="u3", log_file="c.txt", settings=on)])
  dec = analysis.analyse(analysis.load(tmp_path))[1].query("phase == 'decode'").set_index("knobs")
  assert dec.at["flash_attn=off", "seeds"] == "42; 7" and dec.at["flash_attn=off", "n_runs"] == 2
  assert "mixed: 2 commits" in dec.at["flash_attn=off", "flags"] and dec.at["flash_attn=on", "n_runs"] == 1

def test_ratios_between_backends_and_quantizations(tmp_path):
  fast, slow = [[10, 10]] * 3, [[20, 20]] * 3
  write(tmp_path / "llamacpp.csv", [r for i, d in enumerate(fast) for r in one_run(i, 100, d)] +
        [r for i, d in enumerate(fast) for r in one_run(i, 100, [x / 2 for x in d], uuid="q", log_file="q.txt", quantize="int8",
                                                        model_type="Q8_0", bits_per_weight="8.5")])
  write(tmp_path / "tinygrad.csv", [r for i, d in enumerate(slow) for r in one_run(i, 100, d, backend="tinygrad", uuid="t", log_file="t.txt")])
  r = analysis.analyse(analysis.load(tmp_path))[2]
  dec = r[r["phase"] == "decode"]
  speed = dec[(dec["kind"] == "backend") & (dec["baseline_backend"] == "tinygrad")].iloc[0]
  assert speed["backend"] == "llamacpp" and speed["ratio"] == pytest.approx(2.0) and speed["n_runs"] == 3
  quant = dec[dec["kind"] == "quantization"].iloc[0]
  assert quant["baseline_quantize"] == "default" and quant["quantize"] == "int8" and quant["ratio"] == pytest.approx(2.0)

def test_script_writes_three_files_and_skips_foreign_csvs(tmp_path):
  known(tmp_path)
  write(tmp_path / "sweep_tiny.csv", [{"quant": "Q8_0"}], columns=["quant", "decode_tok_s"])
  write(tmp_path / "membw.csv", [{"a": "1"}], columns=["a"])  # someone else's file: skipped, said so, no error
  r = script("benchmark_analysis.py", "-d", str(tmp_path))
  assert r.returncode == 0, r.stderr
  assert "decode" in r.stdout and "prefill" in r.stdout and "membw.csv" in r.stderr and "no data for: tinygrad, MLX, PyTorch, MLC-LLM" in r.stderr
  summary = analysis.read_summary(tmp_path / "summary.csv")
  assert list(summary["phase"]) == ["decode", "prefill"] and summary.at[0, "tok_s_median"] == pytest.approx(50)
  assert summary.at[0, "noisy"] and summary.at[0, "source_csv"] == "llamacpp.csv"
  assert len(analysis.read_runs(tmp_path / "runs.csv")) == 3 and (tmp_path / "ratios.csv").is_file()
  assert not list(tmp_path.glob(".*.csv.*"))  # the atomic writes left no temporary file

@pytest.mark.parametrize("damage, expect", [
  (lambda p: p.write_text("step,foo\n1,2\n"), "not a collated benchmark CSV (no column backend"),
  (lambda p: p.write_text(p.read_text().replace(",100,", ",ten,", 1)), "invalid value 'ten'"),
  (lambda p: p.write_text(p.read_text().replace(",100,", ",inf,", 1)), "row 1 (llamacpp_u1.txt, run 0, step 0): total_latency_ms is inf, not finite"),
  (lambda p: p.write_text(p.read_text() + "1,2,3\n"), "Expected"),
  (lambda p: p.write_bytes(b"\xff\xfe\x00garbage"), "unreadable as CSV"),
])
def test_malformed_csv_is_one_clear_line(tmp_path, damage, expect):
  damage(known(tmp_path))
  r = script("benchmark_analysis.py", "-d", str(tmp_path))
  assert r.returncode == 2
  lines = r.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(f"error: {tmp_path / 'llamacpp.csv'}") and expect in lines[0], r.stderr
  assert "llamacpp_collate.py" in lines[0] or "re-run" in lines[0]  # the way out
  assert not (tmp_path / "summary.csv").exists()

def test_no_data_is_an_error(tmp_path):
  r = script("benchmark_analysis.py", "-d", str(tmp_path / "absent"))
  assert r.returncode == 2 and "run a benchmark" in r.stderr

def test_real_csvs_both_backends(tmp_path_factory, tiny_model):
  folder = real_csvs(tmp_path_factory.getbasetemp(), tiny_model)
  runs, summary, _ = analysis.analyse(analysis.load(folder))
  assert {(r["backend"], r["quantize"], r["phase"]) for r in summary.to_dict("records")} == \
    {(b, q, p) for b, q in (("llamacpp", "default"), ("llamacpp", "int8"), ("tinygrad", "default")) for p in ("decode", "prefill")}
  for r in summary.to_dict("records"):
    assert r["n_runs"] == 2 and r["n_steps"] == (12 if r["phase"] == "decode" else 2) and r["weights"] == "synthetic"
    assert r["tok_s_median"] > 0 and r["knobs"] in ("flash_attn=off", "beam=0 jit=1")
    assert (r["memory_bytes_source"] == "backend counter") == (r["backend"] == "tinygrad")
  dec = summary[summary["phase"] == "decode"].set_index("quantize")
  # the harness times around llama_decode, so its step time holds llama.cpp's own: at least 1 (less the log's rounding).
  # How close to 1 depends on the load: the analysis reports it (harness/int) and benchmarks/llamacpp_gap.py measures the
  # harness's overhead; a figure, not a test. tinygrad has no timer of its own
  ratio = dec.groupby("backend")["harness_internal_ratio"]
  assert len(ratio.get_group("llamacpp")) == 2 and all(0.99 <= v < math.inf for v in ratio.get_group("llamacpp"))
  assert ratio.get_group("tinygrad").isna().all()

# ---- one rule for a valid value: the raw log's declaration (rawlog.STEP, RUN, HEADER), in the parser and here

def served(path: Path, chunks: list[list[float]]) -> Path:
  """A serving log as the load client writes it, a request per list of chunk arrival times: a time given twice is
  a chunk that carried two tokens, so the gap between them is exactly 0."""
  w = LogWriter(path)
  w.header({"backend": "llamacpp_server", "uuid": "s1", "mode": "endpoint", "size": "tiny", "concurrency": 1, "requests": len(chunks),
            "n_prompt_tokens": 5, "n_decode_steps": 3, "started_at": "2026-01-01T00:00:00+00:00"})
  cfg = RunConfig(backend="endpoint", mode="endpoint", size="tiny", quantize="q", seed=1, uuid="s1", concurrency=1, requests=len(chunks),
                  warmup=0, n_tokens=3, temperature=0.0)
  for run, times in enumerate(chunks):
    client.write(w, client.Result(run, 0.1 * run, 0.01, times, ["a"] * len(times), times[-1] + 0.001, {"completion_tokens": len(times), "prompt_tokens": 5},
                                  "length"), ref_tokens=None, cfg=cfg, expected_cached=0)
  w.close()
  return path

def test_a_zero_gap_between_two_tokens_of_one_chunk_is_data(tmp_path, capsys):
  # a request with one zero gap, another, and one whose whole decode came in its first chunk (decode took no time)
  log = served(tmp_path / "llamacpp_server_s1.txt", [[0.02, 0.03, 0.03, 0.05], [0.02, 0.04, 0.04, 0.07], [0.02, 0.02, 0.02, 0.02]])
  assert parse(log).ok and min(s["total_latency_ms"] for s in parse(log).steps) == 0  # the parser accepts it
  local.summarize([{"label": "served", "log": log, "status": "ok"}])  # the benchmark command's table, no traceback
  out = capsys.readouterr()
  assert "decode" in out.out and "prefill" in out.out and "warning" not in out.err
  collate.collate("llamacpp_server", tmp_path)
  runs, summary, _ = analysis.analyse(analysis.load(tmp_path))
  dec, pre = (summary[summary["phase"] == p].iloc[0] for p in ("decode", "prefill"))
  assert pre["n_runs"] == 3 and dec["n_runs"] == 2  # no time, no rate: that request's decode is left out of the rates, not infinite
  assert dec["tok_s_median"] == pytest.approx(np.median([3e3 / 30, 3e3 / 50])) and np.isfinite(runs["decode_tok_s"].dropna()).all()
  assert dec["latency_ms_p50"] == 0  # the zeros are among the step gaps: 0 0 0 0 0 10 20 20 30

@pytest.mark.parametrize("column", ["total_latency_ms", "n_step_tokens", "threads", "peak_rss_bytes", "e2e_latency_ms"])
def test_the_least_declared_value_is_accepted_and_below_it_refused(tmp_path, column):
  lo = declared(column).lo
  rows = [*one_run(0, 100, [10, 20]), *one_run(1, 100, [10, 20])]
  rows[1][column] = str(lo)
  write(tmp_path / "llamacpp.csv", rows)
  assert analysis.analyse(analysis.load(tmp_path))[1]["n_runs"].min() == 2
  rows[1][column] = str(lo - 0.5)
  write(tmp_path / "llamacpp.csv", rows)
  with pytest.raises(analysis.AnalysisError) as e: analysis.load(tmp_path)
  assert str(e.value) == (f"{tmp_path / 'llamacpp.csv'}: row 2 (llamacpp_u1.txt, run 0, step 1): {column} is {lo - 0.5:g}, below its least value {lo:g}, "
                          f"which no valid log holds: re-collate it with `python llamacpp_collate.py -d {tmp_path}`")

def test_the_parser_draws_the_same_line(tmp_path):
  from test_rawlog import mutate, write_log
  zero = mutate(write_log(tmp_path / "llamacpp_u1.txt"), '"enqueue_latency_ms": 0.5, "total_latency_ms": 3.0', '"enqueue_latency_ms": 0.0, "total_latency_ms": 0.0')
  assert collate.collate("llamacpp", tmp_path)[2] == []
  assert analysis.analyse(analysis.load(tmp_path))[1]["latency_ms_p50"].notna().all()  # what it accepts, the analysis reads
  mutate(zero, '"total_latency_ms": 0.0', '"total_latency_ms": -0.5')
  with pytest.raises(LogError, match="step: total_latency_ms is below 0"): parse(zero)

def test_a_serving_csv_is_recollated_by_the_serving_collate(tmp_path):
  collate.collate("llamacpp_server", served(tmp_path / "llamacpp_server_s1.txt", [[0.02, 0.03], [0.02, 0.04]]).parent)
  with open(path := tmp_path / "llamacpp_server.csv", newline="") as f: rows = list(csv.DictReader(f))
  write(path, [{**rows[0], "total_latency_ms": "-1"}, *rows[1:]])
  with pytest.raises(analysis.AnalysisError, match=f"re-collate it with `python mlc_collate.py -d {tmp_path}`"): analysis.load(tmp_path)

def test_one_configuration_on_two_gpus_is_compared_not_pooled_and_a_slower_gpu_is_flagged(tmp_path):
  from benchdata import made_up_results
  gpu = {"device": "cuda", "device_name": "NVIDIA H200", "model_sha256": "same"}
  agree = made_up_results(tmp_path / "agree", [{**gpu, "gpu_index": "0", "ms": 10.0}, {**gpu, "gpu_index": "1", "ms": 10.0}], n_runs=5, seed=1)
  s = analysis.read_summary(agree / "summary.csv").query("phase == 'decode'")
  assert len(s) == 2 and sorted(s["gpu_index"]) == ["0", "1"]  # one row per GPU: never pooled
  assert s["gpus_agree"].astype(str).str.lower().eq("true").all() and not s["flags"].str.contains("slower GPU").any()
  slow = made_up_results(tmp_path / "slow", [{**gpu, "gpu_index": "0", "ms": 10.0}, {**gpu, "gpu_index": "1", "ms": 13.0},
                                             {**gpu, "gpu_index": "2", "ms": 10.0}], n_runs=5, seed=1)
  s = analysis.read_summary(slow / "summary.csv").query("phase == 'decode'").set_index("gpu_index")
  assert s["gpus_agree"].astype(str).str.lower().eq("false").all()
  assert s.loc["1", "flags"].startswith("slower GPU 1") and "slower GPU" not in s.loc["0", "flags"] + s.loc["2", "flags"]
  assert "GPU 1" in s.loc["1", "label"]
  cpu = made_up_results(tmp_path / "cpu", [{"ms": 10.0}], n_runs=5)  # no placement: nothing to compare
  assert analysis.read_summary(cpu / "summary.csv")["gpus_agree"].isna().all()
