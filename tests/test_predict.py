"""Latency models (inferbench/predict.py): a known eta is recovered, cross-validation never fits a configuration on
itself, and every value in model_fit.csv says whether it was measured or predicted."""
import json, subprocess, sys
import numpy as np
import pandas as pd
import pytest
from benchdata import ROOT, made_up_results
from inferbench.models import modelfile, synthetic
from inferbench.decide import predict
from inferbench.core import registry

SIZES = ["135M", "360M", "1B", "1.7B", "3B"]
BITS = {"Q4_K_M": 4.85, "Q8_0": 8.5}
ETA, A_MS, BW = 0.62, 3.0, 20.0

def configs(eta=ETA, a_ms=A_MS, sizes=SIZES, **cells) -> list[dict]:
  """Every size x quantization, its ms/token exactly a + bytes / (eta x bandwidth)."""
  out = []
  for size in sizes:
    n = synthetic.n_params(registry.MODELS[size].arch)
    for q, bits in BITS.items():
      c = {"size": size, "weights": "synthetic", "quantize": q, "model_type": q, "model_sha256": f"{size}{q}", "n_params": str(n),
           "bits_per_weight": str(bits), "model_bytes": str(int(n * bits / 8)), "roofline_gb_s": BW, "n_prompt_tokens": "37",
           "n_decode_steps": "16", "batch": "1", **cells}
      roofline_ms = float(predict.features(pd.DataFrame([c]))["roofline_ms"].iloc[0])
      out.append({**c, "ms": a_ms + roofline_ms / eta})
  return out

@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  return made_up_results(tmp_path_factory.mktemp("predict"), configs() + configs(eta=0.3, a_ms=8.0, device="cuda", device_name="a gpu", roofline_gb_s=1000.0))

def test_bytes_per_token_are_the_workers(tiny_model):
  """The model's bytes per token are the mean of what the worker counts per decode step (GGUFInfo.decode_bytes)."""
  info = modelfile.describe(tiny_model)
  row = pd.DataFrame([{"size": "tiny", "n_params": info.n_params, "bits_per_weight": 8.0, "model_bytes": info.weight_bytes, "n_prompt_tokens": 37,
                       "n_decode_steps": 16, "batch": 1, "roofline_gb_s": 1.0}])
  worker = np.mean([info.decode_bytes(p) for p in range(37, 37 + 16)])
  assert predict.features(row)["bytes_per_token"].iloc[0] == pytest.approx(worker, rel=1e-3)

def test_known_eta_is_recovered(folder):
  result, _ = predict.run_fit(folder)
  eta = predict.eta_table(result).set_index("device")
  assert eta.at["cpu", "eta"] == pytest.approx(ETA, rel=0.05)
  assert eta.at["cuda", "eta"] == pytest.approx(0.3, rel=0.05)
  assert eta.at["cpu", "a_ms"] == pytest.approx(A_MS, rel=0.05)
  lo, hi = eta.at["cpu", "eta_ci95"]
  assert lo < ETA < hi
  assert result["cv"]["roofline_mape_pct"] < 5

def test_cross_validation_never_fits_a_configuration_on_itself(folder, monkeypatch):
  runs = predict.features(pd.read_csv(folder / "runs.csv", dtype=str).astype({"decode_tok_s_per_seq": float, "roofline_gb_s": float}))
  for train, test in predict.splits(runs):
    assert runs["config"].iloc[test].nunique() == 1
    assert runs["config"].iloc[test[0]] not in set(runs["config"].iloc[train])
    assert len(train) + len(test) == len(runs)
  seen = []
  fit = predict.fit
  monkeypatch.setattr(predict, "fit", lambda r, t: seen.append(set(r["config"])) or fit(r, t))
  configs_ = predict.measured(pd.read_csv(folder / "summary.csv", dtype={"config": str}, keep_default_na=False, na_values=[""]))
  out = predict.cross_validate(runs, configs_, 200.0)
  assert len(seen) == runs["config"].nunique() == len(out)
  for config, training in zip(out.index, seen): assert config not in training

def test_holdout_and_the_measured_predicted_marking(folder, tmp_path):
  result, table = predict.run_fit(folder, 50.0, ["3B", "8B"])
  assert "3B" not in result["training"]["sizes"] and result["holdout"]["n_configs"] == 4
  assert result["holdout"]["roofline_mape_pct"] < 5  # exact data: the held-out size is predicted from the others
  predict.write(folder, result, table, tmp_path / "model_fit.png")
  csv = pd.read_csv(folder / "model_fit.csv", keep_default_na=False)
  assert set(csv["source"]) == {"measured", "predicted"}
  assert (csv.loc[csv["model"] != "", "source"] == "predicted").all() and (csv.loc[csv["model"] == "", "source"] == "measured").all()
  assert set(csv.loc[csv["size"] == "8B", "source"]) == {"predicted"} and set(csv.loc[csv["size"] == "8B", "split"]) == {"unmeasured"}
  assert set(csv.loc[csv["size"] == "3B", "split"]) == {"holdout"}
  assert predict.load(folder)["holdout_sizes"] == ["3B", "8B"]
  assert json.loads((folder / "models.json").read_text())["interactive_ms"] == 50.0
  assert (tmp_path / "model_fit.png").stat().st_size > 10_000

def test_classifier_scores(folder):
  result, _ = predict.run_fit(folder, 40.0)
  c = result["cv"]["classifier"]
  assert c["n_configs"] == 20 and sum(map(sum, c["confusion"]["matrix"])) == 20 and 0.5 <= c["accuracy"] <= 1

@pytest.mark.parametrize("args, says", [(["--holdout", "7B"], "--holdout 7B"), (["--interactive-ms", "-1"], "--interactive-ms"),
                                        (["-d", "/nonexistent"], "runs.csv")])
def test_bad_input_is_one_line(args, says, tmp_path):
  r = subprocess.run([sys.executable, "fit_models.py", *args, "--plot", str(tmp_path / "p.png")], cwd=ROOT, capture_output=True, text=True)
  assert r.returncode == 2 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
