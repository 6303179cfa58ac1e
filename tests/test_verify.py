"""recommend --verify (inferbench/run/verify.py): the pick and its alternatives measured again in interleaved rounds,
on the embedded SmolLM2-135M with llama.cpp: one verdict per alternative, a predicted row runs its reference
configuration, the logs kept apart from the folder's own, --rounds below 3 refused, a row without a log named and
skipped."""
import hashlib, math, re, subprocess, sys
import pandas as pd
import pytest
from benchdata import ROOT, benchmark, made_up_results
from inferbench.analyse import analysis
from inferbench.run.verify import VERDICTS
from inferbench.store import collate
from inferbench.store.rawlog import parse

# quality for the two files that ran (int8 = Q8_0, nf4 = Q4_K_M) and F16, which never ran: --objective quality ranks
# int8 first (F16 gets no predicted speed: two configurations leave the physical model nothing to check a fit with)
SWEEP = pd.DataFrame({"size": "135M", "quant": ["F16", "Q8_0", "Q4_K_M"], "model_sha256": ["sha-F16", "sha-Q8_0", "sha-Q4_K_M"],
                      "bits_per_weight": [16.0, 8.5, 6.2], "file_bytes": [269e6, 143e6, 104e6], "perplexity": [10.0, 10.05, 10.9],
                      "kl_mean": [0.0, 0.004, 0.08], "top1_agreement": [1.0, 0.98, 0.9], "task_accuracy": [0.9, 0.9, 0.8]})
OWN = ("llamacpp.csv", "summary.csv", "runs.csv", "ratios.csv")

def recommend(*args: str) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "recommend.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)

def digest(folder) -> dict:
  return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.name in OWN or p.suffix == ".txt"}

@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  d = tmp_path_factory.mktemp("verify")
  assert benchmark("llamacpp", d, None, "--size", "135M", "--quantize", "int8", "nf4", "--n-tokens", "8", "--runs", "3", "--warmup", "1",
                   "--threads", "1", "--target-ci", "1", "--max-runs", "4") == 0  # the rounds must not inherit a target's runs
  assert collate.main("llamacpp", ["-d", str(d)]) == 0
  assert analysis.main(["-d", str(d)]) == 0
  SWEEP.to_csv(d / "sweep_135M.csv", index=False)
  return d

@pytest.fixture(scope="module")
def verified(folder):
  before = digest(folder)
  r = recommend("-d", str(folder), "--objective", "quality", "--verify", "--against", "quantizations", "--rounds", "3",
                "--plot", str(folder / "pareto_front.png"))
  return r, before, pd.read_csv(folder / "verification.csv")

def test_one_verdict_per_alternative(verified):
  r, _, v = verified
  assert r.returncode in (0, 1), r.stderr[-2000:]
  assert list(v["alt_quantize"]) == ["nf4"] and (v["pick_quantize"] == "int8").all()
  assert v["verdict"].map(lambda s: s.startswith(VERDICTS)).all() and v["ratio"].map(math.isfinite).all()
  assert (v["ratio_ci95_low"] <= v["ratio"]).all() and (v["ratio"] <= v["ratio_ci95_high"]).all()
  assert (v["rounds"] == 3).all() and (v["rounds_paired"] == 3).all() and (v["alt_source"] == "measured").all()
  assert v["overall"].nunique() == 1 and v["overall"].iloc[0] in r.stdout.splitlines()[-1]
  assert r.returncode == (0 if v["overall"].iloc[0].startswith(("verified", "tie")) else 1)

def test_a_predicted_row_runs_its_reference_configuration(folder):
  """A predicted row (recommend.predicted_candidates: 'predicted REF QUANT') is measured as its reference
  configuration's log ran, the quantization replaced, one run."""
  from inferbench.run import verify
  runs = pd.read_csv(folder / "runs.csv", dtype=str)
  ref = runs.loc[runs["quantize"] == "int8", "config"].iloc[0]
  cfg = verify.config(pd.Series({"source": "predicted", "config": f"predicted {ref} F16", "quantize": "F16"}), folder, runs)
  assert cfg.quantize == "F16" and cfg.runs == 1 and cfg.target_ci_pct is None and cfg.size == "135M" and cfg.backend == "llamacpp"
  assert verify.config(pd.Series({"source": "predicted", "config": "predicted nothing F16", "quantize": "F16"}), folder, runs).startswith("no ok log")

def test_rounds_are_interleaved_and_rotated(verified):
  r, _, _ = verified
  order = re.findall(r"^\[round (\d)/3\] (.+?) -> ", r.stderr, re.M)
  rounds = [[what for n, what in order if n == str(i)] for i in (1, 2, 3)]
  assert len(set(rounds[0])) == 2 and rounds[1] == rounds[0][1:] + rounds[0][:1] and rounds[2] == rounds[1][1:] + rounds[1][:1]

def test_verify_logs_are_apart_from_the_folders_own(folder, verified):
  _, before, v = verified
  assert digest(folder) == before  # the folder's logs and CSVs are as the recommendation read them
  logs = [parse(p) for p in sorted((folder / "verify").glob("*.txt"))]
  assert len(logs) == 6 and all(log.ok and log.header["runs"] == "1" and len(log.runs) == 1 and "target_ci_pct" not in log.header for log in logs)
  assert not {log.header["uuid"] for log in logs} & set(pd.read_csv(folder / "runs.csv", dtype=str)["uuid"])
  assert v["verify_dir"].iloc[0] == str(folder / "verify")

def test_fewer_than_3_rounds_are_refused(folder):
  r = recommend("-d", str(folder), "--verify", "--rounds", "2", "--plot", str(folder / "p.png"))
  assert r.returncode == 2 and "--rounds" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr

def test_a_row_without_a_log_is_named_and_skipped(tmp_path):
  f = made_up_results(tmp_path / "made-up", [dict(ms=20.0)])  # runs.csv names log0.txt, which does not exist
  r = recommend("-d", str(f), "--verify", "--rounds", "3", "--plot", str(tmp_path / "p.png"))
  assert r.returncode == 1 and r.stdout.strip().splitlines()[-1].startswith("cannot verify the pick llama.cpp 135M Q8_0")
  assert "no ok log" in r.stdout and not (f / "verify").exists() and not (f / "verification.csv").exists()

def test_without_verify_nothing_is_measured(tmp_path):
  f = made_up_results(tmp_path / "made-up", [dict(ms=20.0)])
  r = recommend("-d", str(f), "--plot", str(tmp_path / "p.png"))
  assert r.returncode == 0 and (f / "recommendation.csv").is_file()
  assert not (f / "verify").exists() and not (f / "verification.csv").exists() and "verification.csv" not in r.stdout and "[round" not in r.stderr

def test_the_deck_shows_the_verdict_of_its_pick(folder, verified):
  from inferbench.report import deck
  _, _, v = verified
  assert v["overall"].iloc[0] in deck.verified(folder, v["pick_config"].iloc[0])
  assert deck.verified(folder, "another pick").startswith("Not verified")
