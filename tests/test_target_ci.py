"""--target-ci: the stopping rule on plain arrays, the worker stopping on it (target met, max-runs, max-seconds) on
the tiny real model, the log and CSV columns saying why, the analysis's imprecise flag, bad flags, experiment keys."""
import math, re
from pathlib import Path
import numpy as np
import pytest
import yaml
from benchdata import benchmark
from inferbench.analyse import analysis
from inferbench.core import stats
from inferbench.run import experiment
from inferbench.store import collate, rawlog

def test_the_rule_wants_both_ends_within_pct_of_the_median():
  tight, wide = [100.0, 101.0, 99.0, 100.5], [100.0, 150.0, 60.0]
  assert stats.target_met(tight, 5) and not stats.target_met(wide, 5) and stats.target_met(wide, 1000)
  assert not stats.target_met([100.0, 100.0], 50) and math.isnan(stats.ci_pct([100.0, 100.0]))  # below 3 runs: never met
  skewed = np.array([100.0, 100.0, 100.0, 101.0, 130.0])  # median 100, mean 106.2: the interval reaches farther above
  lo, hi = stats.t_interval(skewed)
  near, far = 100 - lo, hi - 100  # as % of the median, 100
  assert near < far and stats.ci_pct(skewed) == pytest.approx(far)
  assert not stats.target_met(skewed, (near + far) / 2) and stats.target_met(skewed, far + 1e-9)

def llamacpp(out: Path, model: Path, *args: str, runs: int = 1) -> int: return benchmark("llamacpp", out, model, "--threads", "1", *args, runs=runs)

def one_log(out: Path) -> rawlog.Log:
  (path,) = out.glob("llamacpp_*.txt")
  return rawlog.parse(path)

def test_a_loose_target_stops_at_three_runs_and_says_it_was_met(tiny_model, tmp_path):
  # loose indeed: on a shared 2-core machine three runs of the tiny model have spread by 20x (an interval of +-2,000%)
  assert llamacpp(tmp_path, tiny_model, "--target-ci", "1e6") == 0
  log = one_log(tmp_path)
  assert log.ok and len(log.runs) == 3 and log.header["target_ci_pct"] == "1000000.0" and log.header["max_runs"] == "30"
  assert log.runs[-1]["stopped_by"].startswith("target met (+-") and log.runs[-1]["stopped_by"].endswith("<= +-1e+06%) after 3 runs")
  assert not any("stopped_by" in r for r in log.runs[:-1])

def test_without_a_target_nothing_changes_but_the_log_says_runs(tiny_model, tmp_path):
  assert llamacpp(tmp_path, tiny_model, runs=2) == 0
  log = one_log(tmp_path)
  assert len(log.runs) == 2 and "target_ci_pct" not in log.header and log.runs[-1]["stopped_by"].startswith("runs (2 runs")

def analysed(out: Path):
  collate.collate("llamacpp", out)
  _, runs, summary, _, _ = analysis.analyse_folder(out)
  return runs, summary.set_index("phase").loc["decode"]

def test_an_impossible_target_spends_max_runs_and_is_flagged_imprecise(tiny_model, tmp_path):
  assert llamacpp(tmp_path, tiny_model, "--target-ci", "0.001", "--max-runs", "4") == 0
  log = one_log(tmp_path)
  why = log.runs[-1]["stopped_by"]
  assert len(log.runs) == 4 and re.fullmatch(r"max-runs 4 spent \(\+-[0-9.]+% > \+-0.001%\)", why)
  runs, decode = analysed(tmp_path)
  assert list(runs["stopped_by"]) == [why] * 4 and list(runs["target_ci_pct"]) == [0.001] * 4
  assert decode["imprecise"] and decode["n_runs"] == 4 and decode["target_ci_pct"] == 0.001
  assert f"imprecise: +-{decode['tok_s_ci_pct']:.1f}% > target +-0.001%" in decode["flags"]
  # the worker and the analysis judge by the same rule: the same interval (the log rounds step times to 0.1 us)
  assert float(re.search(r"\+-([0-9.]+)%", why).group(1)) == pytest.approx(decode["tok_s_ci_pct"], abs=0.11)
  assert analysis.read_summary(tmp_path / "summary.csv").set_index("phase").loc["decode", "imprecise"] == True  # noqa: E712  read back as a bool
  assert "imprecise" in analysis.table(analysis.read_summary(tmp_path / "summary.csv"))

def test_a_tiny_time_cap_stops_at_the_floor_of_three_runs(tiny_model, tmp_path):
  assert llamacpp(tmp_path, tiny_model, "--target-ci", "0.001", "--max-seconds", "0.001") == 0
  log = one_log(tmp_path)
  assert len(log.runs) == 3 and re.fullmatch(r"max-seconds 0.001 spent \(\+-[0-9.]+% > \+-0.001%\) after 3 runs", log.runs[-1]["stopped_by"])
  _, decode = analysed(tmp_path)
  assert decode["imprecise"] and "imprecise: +-" in decode["flags"]

@pytest.mark.parametrize("flags, says", [
  (["--target-ci", "0"], "argument --target-ci: 0 is too small: pass a number > 0"),
  (["--target-ci", "5", "--max-runs", "2"], "argument --max-runs: 2 is too small: pass 3 or more"),
  (["--target-ci", "5", "--max-seconds", "-1"], "argument --max-seconds: -1 is too small"),
])
def test_nonsense_flags_are_one_line_errors(tiny_model, tmp_path, capsys, flags, says):
  with pytest.raises(SystemExit) as e: llamacpp(tmp_path, tiny_model, *flags)
  err = capsys.readouterr().err
  assert e.value.code == 2 and says in err and err.count("\n") == 1 and not list(tmp_path.glob("*.txt"))

@pytest.mark.parametrize("flags, says", [
  (["--max-runs", "5"], "--max-runs bounds the runs --target-ci adds: pass --target-ci PCT too"),
  (["--target-ci", "5", "--runs", "6", "--max-runs", "5"], "--max-runs 5: below the 6 runs always measured"),
])
def test_caps_that_cannot_hold_are_refused_before_anything_runs(tiny_model, tmp_path, capsys, flags, says):
  assert llamacpp(tmp_path, tiny_model, *flags) == 2
  err = capsys.readouterr().err
  assert says in err and err.count("\n") == 1 and not list(tmp_path.glob("*.txt"))

def test_an_experiment_file_validates_and_passes_the_target_on(tiny_model, tmp_path):
  def load(**keys):
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump({"backends": "llamacpp", "models": [str(tiny_model)], "n_tokens": 4, "ctx": 64, "output": str(tmp_path), **keys}))
    return experiment.load(path)
  for keys, says in (({"target_ci": 0}, "target_ci: Input should be greater than 0"), ({"max_runs": 2}, "max_runs: Input should be greater than or equal to 3")):
    with pytest.raises(experiment.ExperimentError, match=re.escape(says)): load(**keys)
  with pytest.raises(ValueError, match="--max-seconds bounds the runs --target-ci adds"): experiment.plan(load(max_seconds=5))
  (cfg,) = experiment.plan(load(target_ci=5, max_runs=7))
  (plain,) = experiment.plan(load())
  assert (cfg.target_ci_pct, cfg.max_runs, cfg.max_seconds) == (5.0, 7, 60.0)
  assert cfg.settings()["target_ci_pct"] == 5.0 and "target_ci_pct" not in plain.settings()  # older logs, without it, still resume
  # the dry run counts the caps: 7 runs of the fallback rates, not the 3 without a target
  assert experiment.estimate_s(cfg, {})[0] > experiment.estimate_s(plain, {})[0]
