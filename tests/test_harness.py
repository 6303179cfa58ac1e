"""Task accuracy through lm-eval on llama-cpp-python: seeded task files, the harness's request flow on the tiny model,
calibration on the embedded model, the paired statistics, bad task files, and a failed tasks phase in a sweep row."""
import csv, json, math
import numpy as np
import pytest
from inferbench.core import registry
from inferbench.measure import harness
from inferbench.run import sweep

def test_tasks_are_seeded_and_right(tmp_path):
  a, b, c = (harness.make_tasks(tmp_path / d, seed, 5) for d, seed in (("a", 3), ("b", 3), ("c", 4)))
  read = lambda f, t: (f / f"{t}.jsonl").read_text()
  assert all(read(a, t) == read(b, t) for t in harness.TASKS) and any(read(a, t) != read(c, t) for t in harness.TASKS)
  assert a.name == f"{harness.GENERATOR}-seed3-n5"
  for line in read(a, "ib_step").splitlines():
    doc = json.loads(line)
    seq = [int(x) for x in doc["question"].rstrip(",").split(", ")]
    assert int(doc["answer"]) == seq[-1] + seq[1] - seq[0]
  for t in harness.MC:
    for doc in map(json.loads, read(a, t).splitlines()): assert len(doc["choices"]) == harness.MC[t][1] and len(set(doc["choices"])) == len(doc["choices"])

@pytest.mark.parametrize("damage, says", [(lambda f: (f / "ib_letters.yaml").unlink(), "ib_letters.yaml is missing"),
                                          (lambda f: (f / "ib_plural.jsonl").write_text('{"question": "x", "answer": 0}\nnot json\n'), "ib_plural.jsonl line 2 is malformed")])
def test_bad_task_file_is_named_in_one_line(tmp_path, damage, says):
  f = harness.make_tasks(tmp_path, 0, 2)
  damage(f)
  with pytest.raises(ValueError, match=says) as e: harness.evaluate(tmp_path / "no.gguf", f)
  assert "\n" not in str(e.value) and str(f) in str(e.value)

@pytest.fixture(scope="module")
def lm(tiny_model): return harness._lm_class()(str(tiny_model))

def test_loglikelihood_is_the_models_and_the_cache_changes_nothing(lm):
  ctx, cont = "In the alphabet, the letter after C is", " D"
  lm.llm.reset()
  fresh = lm._ll(ctx, cont)
  lm._ll(ctx, " Q"), lm._ll("Something else entirely", " D")  # leave other tokens in the cache
  assert lm._ll(ctx, cont) == pytest.approx(fresh, rel=1e-6)
  ids = lm.llm.tokenize(ctx.encode(), add_bos=True)
  lm.llm.reset(); lm.llm.eval(ids)
  z = np.asarray(lm.llm.scores[len(ids) - 1], dtype=np.float64)
  tok = lm.llm.tokenize(cont.encode(), add_bos=False)
  assert len(tok) == 1 and fresh[0] == pytest.approx(z[tok[0]] - np.log(np.exp(z - z.max()).sum()) - z.max(), rel=1e-6)

def test_lm_eval_runs_end_to_end_on_the_tiny_model(tiny_model, tmp_path):
  r = harness.evaluate(tiny_model, harness.make_tasks(tmp_path, 1, 3))
  assert r.n_examples == 3 * len(harness.TASKS) and set(r.per_task) == set(harness.TASKS)
  assert all(len(c) == 3 and set(c) <= {0, 1} for c in r.correct.values())
  k = sum(map(sum, r.correct.values()))
  assert r.accuracy == k / r.n_examples and r.ci95_low <= r.accuracy <= r.ci95_high and (r.ci95_low, r.ci95_high) == harness.wilson(k, r.n_examples)

def test_f16_of_the_embedded_model_beats_chance_on_every_task(embedded_model, tmp_path):
  r = harness.evaluate(embedded_model, harness.make_tasks(tmp_path, 0, sweep.TASK_EXAMPLES))
  for t, c in r.correct.items():
    lo, hi = harness.wilson(sum(c), len(c))
    assert lo > harness.chance(t) and sum(c) < len(c), f"{t}: {sum(c)}/{len(c)}"

def test_paired_difference_of_a_result_with_itself_is_exactly_zero():
  rng = np.random.default_rng(0)
  ref = {t: rng.integers(0, 2, 40).tolist() for t in harness.TASKS}
  d = harness.paired(ref, ref)
  assert (d.diff, d.ci95_low, d.ci95_high, d.discordant, d.p_mcnemar, d.verdict) == (0.0, 0.0, 0.0, 0, 1.0, "no detectable drop")

def test_paired_difference_finds_a_real_drop_and_not_noise():
  ref = {"a": [1] * 100, "b": [0] * 60}
  worse = {"a": [0] * 20 + [1] * 80, "b": [0] * 60}  # 20 of 160 lost: -12.5 points
  d = harness.paired(ref, worse)
  assert d.diff == pytest.approx(-20 / 160) and d.ci95_high < 0 and d.verdict == "drop" and d.p_mcnemar < 1e-4
  swap = {"a": [0] * 3 + [1] * 97, "b": [1] * 3 + [0] * 57}  # 3 lost, 3 won
  s = harness.paired(ref, swap)
  assert s.diff == 0 and s.ci95_low < 0 < s.ci95_high and s.verdict == "no detectable drop"
  with pytest.raises(ValueError, match="same examples"): harness.paired(ref, {"a": [1] * 100})

def outcomes(lost: int, won: int) -> dict[str, list[int]]:
  """Against a reference right on all of "a" and wrong on all of "b": `lost` of "a" turned wrong, `won` of "b" right."""
  return {"a": [0] * lost + [1] * (100 - lost), "b": [1] * won + [0] * (60 - won)}

def test_holm_adjusts_the_sweeps_quantizations_as_one_family():
  from statsmodels.stats.multitest import multipletests
  ref = outcomes(0, 0)
  made_up = {"F16": ref, "Q8_0": outcomes(10, 0), "Q4_0": outcomes(8, 1), "Q2_K": outcomes(8, 1)}
  rows = [{"quant": q, "backend": b, **({"task_diff_vs_f16": d.diff, "task_diff_p_mcnemar": d.p_mcnemar, "task_verdict": d.verdict})}
          for q, o in made_up.items() for d in [harness.paired(ref, o)] for b in ("llamacpp", "tinygrad")]
  rows.append({"quant": "Q3_K_M", "backend": "llamacpp", "task_verdict": "no F16 result on these tasks"})
  raw = {r["quant"]: r["task_diff_p_mcnemar"] for r in rows if r["quant"] in ("Q8_0", "Q4_0", "Q2_K")}
  assert raw == {"Q8_0": 2 / 2 ** 10, "Q4_0": 20 / 2 ** 9, "Q2_K": 20 / 2 ** 9}  # exact binomial: 10 of 10, 8 of 9 discordant
  assert {r["quant"]: r["task_verdict"] for r in rows} == {"F16": "no detectable drop", "Q8_0": "drop", "Q4_0": "drop", "Q2_K": "drop",
                                                          "Q3_K_M": "no F16 result on these tasks"}  # raw p < 0.05: a family of one each
  out = sweep.holm_verdicts(rows)
  adjusted = {r["quant"]: r.get("task_diff_p_mcnemar_holm") for r in out}
  # Holm: the smallest p times 3, the next two times 2 (then never below the one before)
  assert adjusted == {"F16": None, "Q8_0": 3 * 2 / 2 ** 10, "Q4_0": 2 * 20 / 2 ** 9, "Q2_K": 2 * 20 / 2 ** 9, "Q3_K_M": None}
  assert [adjusted[q] for q in raw] == pytest.approx(multipletests(list(raw.values()), method="holm")[1].tolist(), rel=1e-12)
  assert {r["quant"]: r["task_verdict"] for r in out} == {"F16": "no detectable drop", "Q8_0": "drop", "Q4_0": "no detectable drop",
                                                         "Q2_K": "no detectable drop", "Q3_K_M": "no F16 result on these tasks"}
  assert [r.get("task_diff_p_mcnemar") for r in out] == [r.get("task_diff_p_mcnemar") for r in rows]  # the raw p stays beside it
  assert "task_diff_p_mcnemar_holm" in sweep.COLUMNS and "task_diff_p_mcnemar" in sweep.COLUMNS

def test_detectable_drop():
  assert harness.detectable_drop(160) == pytest.approx((1.959964 + 0.841621) ** 2 / 160) and harness.detectable_drop(160) < 0.05
  assert harness.detectable_drop(160, 0.1) == pytest.approx((1.959964 + 0.841621) * math.sqrt(0.1 / 160))

def test_failed_tasks_phase_is_recorded_and_the_others_stand(tiny_model, tmp_path, monkeypatch):
  monkeypatch.setenv("INFERBENCH_MODELS", str(tmp_path / "models"))
  out = tmp_path / "out"
  f = harness.make_tasks(out / "sweep_tiny" / "tasks", registry.DEFAULT_SEED, 2)  # the folder the sweep reads
  (f / "ib_sequence.jsonl").write_text("[1, 2]\n")
  argv = ["--model", str(tiny_model), "--size", "tiny", "--quantize", "F16", "-o", str(out), "--plot", str(tmp_path / "p.png"),
          "--task-examples", "2", "--runs", "1", "--warmup", "0", "--min-seconds", "0", "--n-tokens", "4", "--quality-tokens", "128",
          "--quality-ctx", "64", "--threads", "1"]
  assert sweep.main(argv) == 1
  with open(out / "sweep_tiny.csv", newline="") as fh: row = next(csv.DictReader(fh))
  assert row["status"].startswith("failed: tasks: ValueError: task file") and "ib_sequence.jsonl line 1 is malformed" in row["status"]
  assert float(row["kl_mean"]) == 0.0 and float(row["decode_tok_s"]) > 0 and row["task_accuracy"] == ""
