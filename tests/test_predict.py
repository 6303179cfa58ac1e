"""The physical models (decide/latency_model.py through decide/predict.py): known physics is recovered with every
term in its range, data the model contradicts get a note instead of a prediction (never eta > 1), cross-validation
never fits a configuration on itself, a held-out size of real runs lands within its interval, and every value in
model_fit.csv says whether it was measured or predicted."""
import json, subprocess, sys
import numpy as np
import pandas as pd
import pytest
from benchdata import ROOT, made_up_results, script
from inferbench.models import modelfile, synthetic
from inferbench.decide import latency_model, predict, work
from inferbench.core import files, registry

SIZES = ["135M", "360M", "1B", "1.7B", "3B"]
BITS = {"Q4_K_M": 4.85, "Q8_0": 8.5}
ETA, PER_LAYER_MS, BW = {"Q4_K_M": 0.55, "Q8_0": 0.8}, 0.2, 20.0

def configs(eta=ETA, per_layer_ms=PER_LAYER_MS, sizes=SIZES, time=None, **cells) -> list[dict]:
  """Every size x quantization, its ms/token exactly per_layer x layers + bytes / (eta x bandwidth), or time(c)."""
  out = []
  for size in sizes:
    n = synthetic.n_params(registry.MODELS[size].arch)
    for q, bits in BITS.items():
      c = {"size": size, "weights": "synthetic", "quantize": q, "model_type": q, "model_sha256": f"{size}{q}", "n_params": str(n),
           "bits_per_weight": str(bits), "model_bytes": str(int(n * bits / 8)), "roofline_gb_s": BW, "n_prompt_tokens": "37",
           "n_decode_steps": "16", "batch": "1", **cells}
      f = work.features(pd.DataFrame([c])).iloc[0]
      out.append({**c, "ms": time(f) if time else per_layer_ms * f["n_layers"] + f["roofline_ms"] / eta[q]})
  return out

@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  return made_up_results(tmp_path_factory.mktemp("predict"), configs() + configs(eta={"Q4_K_M": 0.3, "Q8_0": 0.4}, per_layer_ms=0.05,
                                                                                  device="cuda", device_name="a gpu", roofline_gb_s=1000.0))

def test_bytes_per_token_are_the_workers(tiny_model):
  """The model's bytes per token are the mean of what the worker counts per decode step (GGUFInfo.decode_bytes)."""
  info = modelfile.describe(tiny_model)
  row = pd.DataFrame([{"size": "tiny", "n_params": info.n_params, "bits_per_weight": 8.0, "model_bytes": info.weight_bytes, "n_prompt_tokens": 37,
                       "n_decode_steps": 16, "batch": 1, "roofline_gb_s": 1.0}])
  worker = np.mean([info.decode_bytes(p) for p in range(37, 37 + 16)])
  assert work.features(row)["bytes_per_token"].iloc[0] == pytest.approx(worker, rel=1e-3)

def test_known_physics_is_recovered_in_range(folder):
  result, _ = predict.run_fit(folder)
  eta = predict.eta_table(result)
  cpu = eta[(eta["device"] == "cpu") & (eta["phase"] == "decode")].set_index("quantize")
  for q, e in ETA.items():
    assert cpu.at[q, "eta"] == pytest.approx(e, rel=0.02)
    lo, hi = cpu.at[q, "eta_ci95"]
    assert lo <= e * 1.001 and e * 0.999 <= hi and hi <= 1
  assert cpu["per_layer_ms"].iloc[0] == pytest.approx(PER_LAYER_MS, rel=0.05)
  assert (eta["eta"].dropna() <= 1).all()
  assert result["cv"]["decode_ms_mape_pct"] < 2

@pytest.mark.parametrize("time, says", [(lambda f: 0.3 * f["roofline_ms"], "not bound by it"),      # faster than the bandwidth allows
                                        (lambda f: 40.0 + 0 * f["roofline_ms"], "not bound by it")])  # not growing with the bytes at all
def test_it_declines_where_the_step_is_not_bandwidth_bound(time, says, tmp_path):
  folder = made_up_results(tmp_path, configs(time=time, sizes=["135M", "360M", "1B"]), noise=0.02)
  result, table = predict.run_fit(folder)
  eta = predict.eta_table(result)
  decode = eta[eta["phase"] == "decode"]
  assert decode["eta"].isna().all() and decode["note"].str.contains(says).all(), decode["note"].tolist()
  assert table[(table["quantity"] == "decode_ms") & (table["source"] == "predicted")]["value"].isna().all()
  assert result["cv"]["decode_ms_predicted"] == 0

def test_cross_validation_never_fits_a_configuration_on_itself(folder, monkeypatch):
  seen = []
  fit_all = predict.fit_all
  monkeypatch.setattr(predict, "fit_all", lambda r: seen.append(set(r["config"])) or fit_all(r))
  runs = predict.run_measure(work.features(pd.read_csv(folder / "runs.csv", dtype=str).astype(
    {"decode_tok_s_per_seq": float, "roofline_gb_s": float, "ttft_ms": float, "peak_rss_bytes": float, "peak_device_bytes": float})))
  configs_ = predict.configurations(runs)
  out = predict.cross_validate(runs, configs_)
  assert len(seen) == runs["config"].nunique() == len(out["decode_ms"])
  for config, training in zip(configs_["config"], seen): assert config not in training and len(training) == len(configs_) - 1

def test_holdout_and_the_measured_predicted_marking(folder, tmp_path):
  result, table = predict.run_fit(folder, 50.0, ["3B", "8B"])
  assert "3B" not in result["training"]["sizes"] and result["holdout"]["n_configs"] == 4
  assert result["holdout"]["decode_ms_mape_pct"] < 2  # exact data: the held-out size is predicted from the others
  predict.write(folder, result, table, tmp_path / "model_fit.png")
  csv = pd.read_csv(folder / "model_fit.csv", keep_default_na=False)
  assert set(csv["source"]) == {"measured", "predicted"}
  assert set(csv.loc[csv["size"] == "8B", "source"]) == {"predicted"} and set(csv.loc[csv["size"] == "8B", "split"]) == {"unmeasured"}
  assert set(csv.loc[csv["size"] == "3B", "split"]) == {"holdout"}
  assert set(csv["quantity"]) == set(predict.QUANTITIES)
  assert predict.load(folder)["holdout_sizes"] == ["3B", "8B"]
  assert json.loads((folder / "models.json").read_text())["interactive_ms"] == 50.0
  assert (tmp_path / "model_fit.png").stat().st_size > 10_000

def test_interactive_is_scored_only_with_both_classes(folder):
  split, _ = predict.run_fit(folder, 40.0)  # some configurations above 40 ms/token, some below
  c = split["cv"]["interactive"]
  # exact data, none near the line: all 10 GPU and 4 CPU configurations take 1.8..30.5 ms, the other 6 71..219 ms
  assert c["n_configs"] == 20 and c["accuracy"] == 1.0 and c["confusion"]["labels"] == ["interactive", "not interactive"]
  assert c["confusion"]["matrix"] == [[14, 0], [0, 6]] and c["confusion"]["rows"] == "measured"
  one, _ = predict.run_fit(folder, 1e6)  # every configuration interactive: nothing to tell apart
  i = one["cv"]["interactive"]
  assert i["accuracy"] is None and "cannot be assessed" in i["why"] and "interactive" in i["why"]
  assert "cannot be assessed" in predict.report(one)

@pytest.fixture(scope="module")
def ladder(tmp_path_factory, embedded_model):
  """Real llama.cpp runs of three synthetic depths (2, 4, 8 layers of one width) at F16 and Q8_0, two context depths."""
  out = tmp_path_factory.mktemp("ladder")
  for size, arch in synthetic.LADDER.items():
    path = files.CACHE / "test" / f"{size}-F16.gguf"
    if not path.is_file(): synthetic.write_model(path, arch, embedded_model, name=size, seed=3)
    r = script("llamacpp_benchmark.py", "--model", str(path), "--size", size, "--quantize", "F16", "Q8_0", "--prompt-tokens", "16", "96",
               "--n-tokens", "16", "--ctx", "128", "--runs", "4", "--warmup", "1", "--min-seconds", "0", "-o", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
  assert script("llamacpp_collate.py", "-d", str(out)).returncode == 0
  assert script("benchmark_analysis.py", "-d", str(out)).returncode == 0
  return out

def test_a_held_out_size_of_real_runs_lands_within_its_interval(ladder):
  """Real runs of a loaded 2-core machine: each quantity of the held-out depth is predicted within its 95% interval,
  or not predicted, with the note saying why (tiny steps can be all overhead); never an eta above 1."""
  result, table = predict.run_fit(ladder, holdout=["tiny-l8"])
  assert (predict.eta_table(result)["eta"].dropna() <= 1).all()
  held = table[table["split"] == "holdout"]
  m = held[held["source"] == "measured"].set_index(["config", "quantity"])["value"]
  p = held[held["source"] == "predicted"].set_index(["config", "quantity"])
  assert len(p) == 4 * len(predict.QUANTITIES)
  ok = p["value"].notna()
  assert ok.any(), p["note"].tolist()  # peak memory at least: the weights axis varies
  inside = (p.loc[ok, "ci95_low"] <= m[p.index[ok]]) & (m[p.index[ok]] <= p.loc[ok, "ci95_high"])
  # 95% intervals: all 4 land inside only 81% of the time; two misses or more happen 1.4% of the time
  assert inside.sum() >= len(inside) - 1, pd.concat([m[p.index[ok]], p.loc[ok, ["value", "ci95_low", "ci95_high"]]], axis=1)
  assert (p.loc[~ok, "note"].str.len() > 0).all()

def test_an_unseen_quantization_is_not_guessed_without_a_shared_eta(folder):
  runs = predict.run_measure(work.features(pd.read_csv(folder / "runs.csv", dtype=str).astype(
    {"decode_tok_s_per_seq": float, "roofline_gb_s": float, "ttft_ms": float, "peak_rss_bytes": float, "peak_device_bytes": float})))
  fits = latency_model.fit(runs, "decode")
  row = predict.configurations(runs).head(1).assign(quantize="Q6_K")
  out = latency_model.predict(fits, row, "decode")
  assert out["value" if "value" in out else "ms"].isna().all() and "never ran" in out["note"].iloc[0]

@pytest.mark.parametrize("args, says", [(["--holdout", "7B"], "--holdout 7B"), (["--interactive-ms", "-1"], "--interactive-ms"),
                                        (["-d", "/nonexistent"], "runs.csv")])
def test_bad_input_is_one_line(args, says, tmp_path):
  r = subprocess.run([sys.executable, "fit_models.py", *args, "--plot", str(tmp_path / "p.png")], cwd=ROOT, capture_output=True, text=True)
  assert r.returncode == 2 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
