"""The recommender (inferbench/recommend.py): every constraint is obeyed, an empty answer says which constraint
excludes the most, and predicted rows stay marked predicted in the CSV."""
import subprocess, sys
import pandas as pd
import pytest
from benchdata import ROOT, made_up_results
from inferbench.decide import recommend
from inferbench.decide.recommend import Constraints

MiB = 2**20
# 135M on a CPU (two settings) and a GPU; the sweep below has quality for Q8_0, Q4_K_M and F16, and Q6_K that never ran
RUNS = [dict(quantize=q, model_type=q, model_sha256=f"sha-{q}", bits_per_weight=str(b), model_bytes=str(int(134515008 * b / 8)), ms=ms, ttft_ms=t,
             peak_rss_bytes=float(rss * MiB), knobs=k)
        for q, b, ms, t, rss in (("F16", 16.0, 30.0, 40.0, 420), ("Q8_0", 8.5, 20.0, 60.0, 300), ("Q4_K_M", 6.2, 15.0, 90.0, 250))
        for k in ("flash_attn=off", "flash_attn=on")] + \
       [dict(quantize="Q4_K_M", model_type="Q4_K_M", model_sha256="sha-Q4_K_M", bits_per_weight="6.2", model_bytes=str(int(134515008 * 6.2 / 8)),
             ms=2.0, ttft_ms=5.0, device="cuda", device_name="a gpu", roofline_gb_s=2000.0, peak_device_bytes=float(600 * MiB), predicted_bytes=float(500 * MiB))]
SWEEP = pd.DataFrame({"size": "135M", "quant": ["F16", "Q8_0", "Q6_K", "Q4_K_M"], "model_sha256": ["sha-F16", "sha-Q8_0", "sha-Q6_K", "sha-Q4_K_M"],
                      "bits_per_weight": [16.0, 8.5, 6.6, 6.2], "file_bytes": [269e6, 143e6, 111e6, 104e6], "perplexity": [10.0, 10.05, 10.2, 10.9],
                      "kl_mean": [0.0, 0.004, 0.02, 0.08], "top1_agreement": [1.0, 0.98, 0.95, 0.9], "task_accuracy": [0.9, 0.9, 0.87, 0.8],
                      "task_diff_vs_f16": [0.0, 0.0, -0.03, -0.1], "task_diff_ci95_low": [0.0, -0.02, -0.06, -0.15],
                      "task_diff_ci95_high": [0.0, 0.02, 0.0, -0.05], "task_verdict": ["no detectable drop"] * 3 + ["drop"]})

@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  f = made_up_results(tmp_path_factory.mktemp("recommend"), RUNS)
  SWEEP.to_csv(f / "sweep_135M.csv", index=False)
  return f

def test_candidates_join_quality_memory_and_predictions(folder):
  c = recommend.answer(folder).candidates
  assert len(c[c["source"] == "measured"]) == 7
  pred = c[c["source"] == "predicted"]
  assert set(pred["quantize"]) == {"Q6_K"} and set(pred["knobs"]) == {"flash_attn=off", "flash_attn=on"}  # the GPU ran one file: no fit
  assert pred["tok_s"].between(1e3 / 20, 1e3 / 15).all()  # between Q8_0's and Q4_K_M's, by its bytes
  assert (pred["tok_s_ci95_low"] <= pred["tok_s"]).all() and (pred["memory_source"] == "predicted").all()
  m = c[c["source"] == "measured"].set_index(["device", "quantize", "knobs"])
  assert m.loc[("cpu", "Q8_0", "flash_attn=off"), "kl_mean"] == 0.004 and m.loc[("cpu", "Q8_0", "flash_attn=off"), "memory_source"] == "measured"
  assert m.loc[("cuda", "Q4_K_M", "flash_attn=off"), "memory_bytes"] == 600 * MiB  # VRAM on a GPU
  assert m.loc[("cpu", "F16", "flash_attn=off"), "ppl_increase_pct"] == 0

@pytest.mark.parametrize("c, column, ok", [
  (Constraints(max_memory_bytes=310 * MiB), "memory_bytes", lambda v: v <= 310 * MiB),
  (Constraints(max_kl=0.01), "kl_mean", lambda v: v <= 0.01),
  (Constraints(max_ppl_increase_pct=3.0), "ppl_increase_pct", lambda v: v <= 3.0),
  (Constraints(min_tok_s=60), "tok_s", lambda v: v >= 60),
  (Constraints(max_ttft_ms=70), "ttft_ms", lambda v: v <= 70),
  (Constraints(device="cpu"), "device", lambda v: v == "cpu"),
  (Constraints(max_accuracy_drop_pct=5.0), "accuracy_drop_pct_high", lambda v: v <= 5.0)])
def test_each_constraint_is_obeyed(folder, c, column, ok):
  a = recommend.answer(folder, c)
  assert len(a.table) and a.table[column].map(ok).all() and not a.why
  assert len(a.table) < len(a.candidates)  # it excluded something
  obeys = a.candidates[column].map(lambda v: bool(pd.notna(v) and ok(v)))
  assert (obeys == (a.candidates["excluded_by"] == "")).all()  # every kept row obeys the limit, every excluded row breaks it
  assert sorted(a.table["config"]) == sorted(a.candidates.loc[obeys, "config"])

@pytest.mark.parametrize("objective, column, ascending", [("fastest", "tok_s", False), ("smallest", "memory_bytes", True), ("quality", "kl_mean", True)])
def test_objective_ranks(folder, objective, column, ascending):
  t = recommend.answer(folder, Constraints(device="cpu", objective=objective)).table
  assert t[column].is_monotonic_increasing if ascending else t[column].is_monotonic_decreasing
  assert list(t["rank"]) == list(range(1, len(t) + 1))

def test_an_empty_answer_names_the_constraint_that_excludes_the_most(folder):
  a = recommend.answer(folder, Constraints(max_kl=0.001, min_tok_s=40, device="cuda"))
  assert a.table.empty
  assert a.why.startswith("nothing satisfies the constraints: --device excludes the most") and "--max-kl excludes" in a.why

def test_pareto_front(folder):
  a = recommend.answer(folder)
  o = a.candidates.dropna(subset=["tok_s", "kl_mean", "memory_bytes"]).to_dict("records")
  beats = lambda p, q: (p["tok_s"] >= q["tok_s"] and p["kl_mean"] <= q["kl_mean"] and p["memory_bytes"] <= q["memory_bytes"]
                        and (p["tok_s"] > q["tok_s"] or p["kl_mean"] < q["kl_mean"] or p["memory_bytes"] < q["memory_bytes"]))
  unbeaten = sorted(q["config"] for q in o if not any(beats(p, q) for p in o))
  assert len(unbeaten) < len(o)  # something is beaten: the front is not everything
  assert sorted(a.front["config"]) == unbeaten

def test_the_csv_keeps_the_marking(folder, tmp_path):
  r = subprocess.run([sys.executable, "recommend.py", "-d", str(folder), "--max-kl", "0.05", "--device", "cpu", "-o", str(tmp_path),
                      "--plot", str(tmp_path / "pareto_front.png")], cwd=ROOT, capture_output=True, text=True)
  assert r.returncode == 0, r.stderr
  rec = pd.read_csv(tmp_path / "recommendation.csv")
  assert set(rec["source"]) == {"measured", "predicted"} and (rec.loc[rec["quantize"] == "Q6_K", "source"] == "predicted").all()
  assert "predicted" in r.stdout and (tmp_path / "pareto.csv").is_file() and (tmp_path / "pareto_front.png").stat().st_size > 10_000

def test_nothing_fits_exits_1_and_says_why(folder, tmp_path):
  r = subprocess.run([sys.executable, "recommend.py", "-d", str(folder), "--max-memory", "1MiB", "-o", str(tmp_path),
                      "--plot", str(tmp_path / "p.png")], cwd=ROOT, capture_output=True, text=True)
  assert r.returncode == 1 and "--max-memory excludes the most" in r.stdout

@pytest.mark.parametrize("args, says", [(["--max-memory", "lots"], "--max-memory 'lots'"), (["--max-kl", "x"], "--max-kl"),
                                        (["--objective", "cheapest"], "--objective"), (["--quality", "/nonexistent.csv"], "--quality")])
def test_bad_values_are_one_line(folder, tmp_path, args, says):
  r = subprocess.run([sys.executable, "recommend.py", "-d", str(folder), *args, "-o", str(tmp_path), "--plot", str(tmp_path / "p.png")],
                     cwd=ROOT, capture_output=True, text=True)
  assert r.returncode == 2 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr

def test_accuracy_drop_limit_reads_the_paired_interval(folder):
  t = recommend.answer(folder, Constraints(device="cpu", max_accuracy_drop_pct=5.0)).table
  assert set(t["quantize"]) == {"F16", "Q8_0"}  # Q4_K_M may be 15 points worse; Q6_K is predicted, Q6_K's interval allows 6
  assert (t["accuracy_drop_pct_high"] <= 5.0).all() and "no detectable drop" in recommend.show(recommend.answer(folder, Constraints(device="cpu")))
