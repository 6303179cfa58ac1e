"""Serving experiments as files: the plan, and a real run of inferbench serve on the embedded model (seconds)."""
import csv
from collections import Counter
from pathlib import Path
import pytest
import yaml
from inferbench.analyse import analysis
from inferbench.run import experiment
from inferbench.run.experiment import ExperimentError
from inferbench.run.serving_experiment import SERVER_NAMES, Load, Server, missing_rounds, plan

SERVER_NAME = SERVER_NAMES["llamacpp"]

def write(path: Path, **keys) -> Path:
  path.write_text(yaml.safe_dump({"kind": "serving", **keys}))
  return path

def test_the_design_file_plans_each_point_once(tmp_path):
  exp = experiment.load(Path("experiments/serving_batching.yaml"))
  points = plan(exp)
  assert len(points) == len(set(points)) == 22
  # the batching set's point is also the timeout and concurrency sweeps'; the no-batching server at concurrency 16 is shared too
  mb8 = Server(("Q8_0",), 8, 10.0)
  assert points[(mb8, Load(4, None, None, 32))] == ["batching", "timeout_sweep", "concurrency_sweep"]
  assert points[(Server(("Q8_0",), 1, 0.0), Load(16, None, None, 32))] == ["batch_sweep", "concurrency_sweep"]
  # a batch of one never waits, so max batch 1 has no timeout; an open loop runs for its duration
  assert all(s.batch_timeout_ms == 0 for s, _ in points if s.max_batch == 1)
  assert {l for _, l in points if l.request_rate} == {Load(None, r, 20.0, None) for r in (1.0, 2.0, 4.0, 8.0)}
  assert (Server(("Q8_0", "Q4_K_M"), 8, 10.0), Load(4, None, None, 32)) in points

def test_a_shared_prefix_is_a_point_of_its_own(tmp_path):
  """shared_prefix_tokens expands like the other lists; a log of another workload (or one written before workloads
  were recorded) is not a round of this one."""
  exp = experiment.load(write(tmp_path / "x.yaml", shared_prefix_tokens=4, output=str(tmp_path / "out"),
                              sets=[{"name": "a", "concurrency": 2}, {"name": "b", "concurrency": 2, "shared_prefix_tokens": [0, 16]}]))
  points = plan(exp)
  assert sorted(l.shared_prefix for _, l in points) == [0, 4, 16] and [sets for (_, l), sets in points.items() if l.shared_prefix == 4] == [["a"]]
  mb8 = Server(("Q8_0",), 8, 0.0)
  key = lambda workload: ("inferbench_serve", "Q8_0", 1, 8, 0.0, 2, None, None, 16, workload)
  assert [missing_rounds(exp, (mb8, Load(2, None, None, 16, p)), Counter({key(w): 3})) for p, w in ((4, "distinct, shared prefix 4"), (4, ""), (0, "distinct"))] \
         == [0, 3, 0]

@pytest.mark.parametrize("sets, why", [([{"name": "a", "max_batch": 2}], "give concurrency or request_rate"),
                                       ([{"name": "a", "concurrency": 2, "request_rate": 1}], "give concurrency or request_rate"),
                                       ([{"name": "a", "request_rate": 1}], "needs duration or requests"),
                                       ([{"name": "a", "concurrency": 0}], "concurrency >= 1"),
                                       ([{"name": "a", "concurrency": 1, "quantize": "Q9"}], "Q9")])
def test_bad_sets_are_named_and_nothing_runs(tmp_path, sets, why):
  with pytest.raises(ExperimentError, match=why): experiment.load(write(tmp_path / "x.yaml", sets=sets, output=str(tmp_path / "out")))
  assert not (tmp_path / "out").exists()

def test_a_serving_experiment_runs_resumes_and_reports(tmp_path, capsys):
  out = tmp_path / "out"
  path = write(tmp_path / "s.yaml", name="s", n_tokens=4, requests=4, rounds=3, warmup=0, slo_ttft_ms=2000, slo_itl_ms=500, output=str(out),
               sets=[{"name": "baseline", "max_batch": 1, "concurrency": 2},
                     {"name": "sweep", "max_batch": [1, 4], "batch_timeout_ms": 5, "concurrency": [1, 2]}])
  assert experiment.main([str(path)]) == 0
  logs = sorted(out.glob(f"{SERVER_NAME}_*.txt"))
  assert len(logs) == 4 * 3  # 4 points (the baseline is one of the sweep's), 3 rounds each
  summary = analysis.read_summary(out / "summary.csv")
  dec = summary[summary["phase"] == "decode"]
  # each server setting and concurrency its own configuration, 3 rounds (logs) of 4 requests each
  assert len(dec) == 4 and set(dec["n_logs"]) == {3} and set(dec["n_runs"]) == {12}
  assert dec["aggregate_tok_s_median"].gt(0).all() and dec["aggregate_tok_s_ci95_low"].notna().all() and dec["goodput_rps_median"].notna().all()
  ratios = analysis.read_ratios(out / "ratios.csv")
  batching = ratios[(ratios["kind"] == "setting") & (ratios["phase"] == "decode")]
  assert len(batching) == 2 and batching["baseline_knobs"].str.contains("max_batch=1 ").all() and (batching["n_runs"] == 3).all()
  with open(out / "serving_sets.csv", newline="") as f: table = list(csv.DictReader(f))
  assert [(r["set"], r["server"], r["load"]) for r in table] == [
    ("baseline", "max batch 1", "concurrency 2"), ("sweep", "max batch 1", "concurrency 1"), ("sweep", "max batch 1", "concurrency 2"),
    ("sweep", "max batch 4, timeout 5 ms", "concurrency 1"), ("sweep", "max batch 4, timeout 5 ms", "concurrency 2")]
  assert table[0]["vs_max_batch_1"] == "" and table[-1]["vs_max_batch_1"].endswith("x") and table[-1]["rounds"] == "3"
  # distinct prompts by default: the deck can say which workload, and no request was a prompt-cache hit
  assert {(r["workload"], r["cache_hit_requests"]) for r in table} == {("distinct, 37 prompt tokens", "0")}
  assert all(0 < float(r["client_cpu_share"]) < 2 for r in table)
  assert (out / "concurrency_scaling.csv").is_file() and (out / "plots" / "concurrency_scaling.png").is_file()
  assert (out / "presentation.pdf").is_file()
  capsys.readouterr()
  assert experiment.main([str(path)]) == 0  # resumed: every point has its rounds
  assert len(list(out.glob(f"{SERVER_NAME}_*.txt"))) == 12 and "0 log(s) to make" in capsys.readouterr().err
