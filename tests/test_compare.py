"""inferbench compare: a planted slowdown is found slower with the interval excluding 1, the same runs give no
detectable difference, --fail-above turns that into the exit code, and configurations on one side only or ambiguous
on one side are listed, never dropped or pooled. The runs are real (llama.cpp on the tiny model); every changed
folder goes through the real collated CSV -> analysis."""
import math, re, shutil
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
import benchdata
from inferbench.analyse import analysis, compare
from inferbench.commands import main as inferbench
from inferbench.store import collate

RUNS = 30  # per configuration: >= 3 for an interval; with a planted 50% slowdown, a shared machine's noise (runs cv up to 20-30%) cannot hide it

@pytest.fixture(scope="module")
def base(tmp_path_factory, tiny_model) -> Path:
  """A real result folder: llama.cpp on the tiny model, two quantizations, RUNS runs each, collated and analysed."""
  out = tmp_path_factory.mktemp("compare") / "base"
  assert benchdata.benchmark("llamacpp", out, tiny_model, "--quantize", "default", "int8", "--threads", "1", "--warmup", "1", "--n-tokens", "64", runs=RUNS) == 0
  assert collate.main("llamacpp", ["-d", str(out)]) == 0
  analysis.analyse_folder(out)
  return out

def variant(base: Path, dst: Path, change) -> Path:
  """BASE's collated CSV changed by change(rows), analysed again by the real analysis into dst."""
  rows = pd.read_csv(base / "llamacpp.csv", dtype=str, keep_default_na=False)
  dst.mkdir(parents=True)
  change(rows).to_csv(dst / "llamacpp.csv", index=False)
  analysis.analyse_folder(dst)
  return dst

def slowed(rows: pd.DataFrame, factor: float = 1.5) -> pd.DataFrame:
  """Every step takes factor times as long, on another host."""
  return rows.assign(total_latency_ms=(rows["total_latency_ms"].astype(float) * factor).map(repr), hostname="other-host")

def run(capsys, *argv) -> tuple[int, str, str]:
  rc = inferbench(["compare", *map(str, argv)])
  out, err = capsys.readouterr()
  return rc, out, err

def test_planted_slowdown_is_slower(base, tmp_path, capsys):
  new = variant(base, tmp_path / "new", slowed)
  rc, out, err = run(capsys, base, new, "--plot", tmp_path / "compare.png", "--fail-above", "10")
  table = pd.read_csv(new / "compare.csv", keep_default_na=False, na_values=[""])
  dec = table[table["phase"] == "decode"]
  # every rate is BASE's / 1.5, and the seeded resamples are the same: the interval is BASE against itself, / 1.5
  same = compare.compare(*(compare.read(base, role) for role in ("BASE", "NEW")))
  same = same[same["phase"] == "decode"]
  assert dec["ratio_ci95_high"].to_numpy() == pytest.approx(same["ratio_ci95_high"].to_numpy() / 1.5)
  assert (same["ratio_ci95_high"] < 1.5).all(), f"BASE's runs are too noisy to show 50% (its interval against itself: {same.to_dict('records')})"
  assert rc == 1 and err.count("regression beyond 10%") == 2, err  # both quantizations, 1/1.5 is 33.3% slower
  assert len(dec) == 2 and set(dec["status"]) == {"matched"} and set(dec["verdict"]) == {"slower"}
  assert dec["ratio"].to_numpy() == pytest.approx(1 / 1.5, rel=1e-6)  # every run's rate divided by 1.5 exactly
  assert (dec["ratio_ci95_high"] < 1).all() and (dec["ratio_ci95_low"] < dec["ratio"]).all()
  assert set(dec["base_n_runs"]) == set(dec["new_n_runs"]) == {RUNS} and (dec["mde_pct"] > 0).all()
  host = analysis.read_summary(base / "summary.csv")["hostname"].iloc[0]
  assert set(dec["differs"]) == {f"hostname {host} -> other-host"}  # the one measured column that differs, and only it
  assert out.count(f"hostname {host} -> other-host") == 2 and len(re.findall(r"\|\s+slower \|", out)) == 2
  assert (new / "compare.md").read_text() == out and (tmp_path / "compare.png").stat().st_size > 10_000

def test_same_runs_no_detectable_difference(base, tmp_path, capsys):
  rc, out, err = run(capsys, base, base, "-o", tmp_path, "--plot", tmp_path / "compare.png", "--fail-above", "10")
  assert rc == 0 and "no decode regression beyond 10%" in err
  table = pd.read_csv(tmp_path / "compare.csv", keep_default_na=False, na_values=[""])
  assert set(table["verdict"]) == {"no detectable difference"} and (table["ratio"] == 1).all()
  assert (table["ratio_ci95_low"] < 1).all() and (table["ratio_ci95_high"] > 1).all()
  assert "BASE -> NEW" not in out and "hostname" not in out  # nothing measured differs: no such column
  assert not (base / "compare.csv").exists()  # -o, not NEW

def test_fail_above_needs_the_point_estimate_beyond_it(base, tmp_path, capsys):
  new = variant(base, tmp_path / "new", slowed)
  assert run(capsys, base, new, "--plot", tmp_path / "c.png", "--fail-above", "40")[0] == 0  # 33.3% slower: not beyond 40%

def test_one_side_only_and_ambiguous_are_listed(base, tmp_path, capsys):
  def change(rows):  # int8 dropped; default twice, the second copy from another model file
    d = rows[rows["quantize"] == "default"]
    return pd.concat([d, d.assign(model_sha256="f" * 64, uuid=d["uuid"] + "x", log_file=d["log_file"] + "x")])
  new = variant(base, tmp_path / "new", change)
  rc, out, err = run(capsys, base, new, "--plot", tmp_path / "c.png", "--fail-above", "0")
  assert rc == 0  # nothing matched, so nothing regressed
  table = pd.read_csv(new / "compare.csv", keep_default_na=False, na_values=[""]).set_index(["quantize", "phase"])
  assert table.loc[("int8", "decode"), "status"] == "only in BASE" and table.loc[("int8", "decode"), "base_n_runs"] == RUNS
  amb = table.loc[("default", "decode")]
  assert amb["status"] == "ambiguous" and math.isnan(amb["ratio"]) and "NEW has 2 configurations" in amb["note"] and "model_sha256" in amb["note"]
  assert "only in BASE" in out and "ambiguous" in out and "not pooled" in out
  assert "no configuration is in both" in err and not (tmp_path / "c.png").exists()

def test_too_few_runs_get_no_interval(base, tmp_path, capsys):
  new = variant(base, tmp_path / "new", lambda rows: rows[rows["run"].astype(int) < 2])
  rc, out, _ = run(capsys, base, new, "--plot", tmp_path / "c.png", "--metric", "prefill")
  table = pd.read_csv(new / "compare.csv", keep_default_na=False, na_values=[""])
  assert rc == 0 and set(table["verdict"]) == {"too few runs (2)"} and table["ratio"].notna().all() and table["ratio_ci95_low"].isna().all()
  assert out.startswith("# prefill tok/s")

def test_mde_has_the_stated_power():
  rng = np.random.default_rng(1)
  a, b = np.exp(rng.normal(0, 0.05, 8)), np.exp(rng.normal(0, 0.08, 6))
  effect = math.log1p(compare.mde(a, b))
  la, lb = np.log(a), np.log(b)
  sd = math.sqrt((7 * la.var(ddof=1) + 5 * lb.var(ddof=1)) / 12)
  nc, df = effect / sd / math.sqrt(1 / 8 + 1 / 6), 12  # the noncentral t of a two-sample t-test at that effect
  t = sps.t.ppf(0.975, df)
  assert 1 - sps.nct.cdf(t, df, nc) + sps.nct.cdf(-t, df, nc) == pytest.approx(0.80, abs=1e-4)
  assert math.isnan(compare.mde(a[:2], b))

@pytest.mark.parametrize("make, expect", [
  (lambda base, d: shutil.copytree(base, d, ignore=shutil.ignore_patterns("runs.csv", "summary.csv", "ratios.csv")),
   "has collated CSVs (llamacpp.csv) but no runs.csv: run `inferbench analyze -d"),
  (lambda base, d: None, "is not a folder"),
])
def test_bad_folder_is_one_line(base, tmp_path, capsys, make, expect):
  make(base, tmp_path / "new")
  rc, out, err = run(capsys, base, tmp_path / "new", "--plot", tmp_path / "c.png")
  assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1 and err.startswith(f"error: NEW {tmp_path / 'new'}") and expect in err, err
