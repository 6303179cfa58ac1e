"""The physical peak-memory model (decide/memory_model.py) on real llama.cpp runs of the tiny model, whose prompts fill
contexts of 512-2048 positions at batch 1 and 2 (peak RSS grows with the context), and on made-up runs of a known truth."""
import json
import pandas as pd
import pytest
from benchdata import benchmark, made_up_results
from inferbench.analyse import analysis
from inferbench.decide import memory_model, work
from inferbench.store import collate

CONTEXTS = (512, 1024, 1536, 2048)  # from 512 on: llama.cpp's micro-batch of 512 tokens is full, its attention buffers grow linearly

@pytest.fixture(scope="module")
def runs(tiny_model, tmp_path_factory) -> pd.DataFrame:
  out = tmp_path_factory.mktemp("memory")
  for ctx in CONTEXTS:  # the prompt fills the context, so the KV cache and the attention buffers are touched
    assert benchmark("llamacpp", out, tiny_model, "--size", "tiny", "--threads", "1", "--ctx", str(ctx), "--prompt-tokens", str(ctx - 4),
                     "--n-tokens", "4", "--batch", "1", "2", runs=2) == 0
  assert collate.main("llamacpp", ["-d", str(out)]) == 0 and analysis.main(["-d", str(out)]) == 0
  r = work.features(analysis.read_runs(out / "runs.csv"))
  return r.assign(ctx=pd.to_numeric(r["ctx"]), batch=pd.to_numeric(r["batch"]))

def only_fit(fits: dict) -> memory_model.MemoryFit:
  (f,) = fits.values()
  return f

def test_fitted_terms_are_in_their_physical_ranges(runs):
  f = only_fit(memory_model.fit(runs))
  assert all(v >= 0 for v in f.coef.values())
  assert f.coef["overhead"] > 50 * 2**20  # Python, numpy and libllama before any model
  assert f.coef["context"] > 0 and "context" in f.fitted  # the peak grows with the context the prompt fills
  # one model file: the weights term cannot be told from the overhead, so it is fixed at the whole file, and said so
  assert f.coef["weights"] == 1.0 and "weights" not in f.fitted and "one weights value" in f.note
  grow = runs.groupby(["batch", "ctx"])["peak_rss_bytes"].median()
  assert grow[(1, 2048)] > grow[(1, 512)] + 10 * 2**20  # what the context term is fitted on is real
  (d,) = memory_model.describe({("llamacpp", "cpu", "flash_attn=off"): f})
  assert [t["term"] for t in d["terms"]] == list(memory_model.TERMS) and d["n_runs"] == len(runs) == 16
  assert all(t["ci95"][0] <= t["value"] <= t["ci95"][1] for t in d["terms"])
  json.dumps(d)  # for models.json

def test_a_held_out_context_lands_within_its_interval(runs):
  held = runs["ctx"] == 1024
  fits = memory_model.fit(runs[~held])
  p = memory_model.predict(fits, runs[held])
  real = runs.loc[held, "peak_rss_bytes"].astype(float)
  assert p["memory_bytes"].notna().all() and (p["memory_lo"] <= real).all() and (real <= p["memory_hi"]).all()
  assert (p["memory_lo"] < p["memory_bytes"]).all() and (p["memory_bytes"] < p["memory_hi"]).all()
  score = memory_model.holdout_mape(runs[~held], runs[held])
  assert score["n_configs"] == 2 and score["n_declined"] == 0 and 0 < score["mape_pct"] < 5
  assert score["groups"][0]["knobs"] == "flash_attn=off" and score["groups"][0]["n_configs"] == 2

def test_no_prediction_along_an_axis_the_runs_never_varied(runs):
  one = runs["batch"] == 1
  fits = memory_model.fit(runs[one])
  f = only_fit(fits)
  assert "one batch value" in f.note and "batch" not in f.fitted and f.coef["batch"] == 0
  p = memory_model.predict(fits, runs)
  assert p.loc[one, "memory_bytes"].notna().all() and p.loc[~one, ["memory_bytes", "memory_lo", "memory_hi"]].isna().all().all()
  score = memory_model.holdout_mape(runs[one], runs[~one])
  assert score["n_declined"] == score["n_configs"] == 4 and pd.isna(score["mape_pct"])

def test_float_copies_count_as_n_params_times_the_dtype(tmp_path):
  """PyTorch on the CPU holds float32 copies of the weights: made-up runs of two sizes whose true peak is 80 MB +
  n_params x 4 bytes + the KV cache in float32 + 5 KB per context position. The fit finds each term, the weights at 1."""
  from inferbench.models import synthetic
  sizes = {s: synthetic.n_params(work.ARCHS[s]) for s in ("135M", "360M")}
  configs = []
  for size, n in sizes.items():
    arch = work.ARCHS[size]
    per_position = 2 * arch.n_layers * arch.n_kv_heads * (arch.dim // arch.n_heads) * 4
    for ctx in (256, 512, 1024):
      for batch in (1, 2):
        configs.append({"backend": "torch", "knobs": "attn=sdpa dtype=float32 torch_mode=compile", "size": size, "n_params": str(n),
                        "model_bytes": str(n // 2), "ctx": str(ctx), "batch": str(batch), "ms": 10.0,
                        "peak_rss_bytes": 80e6 + 4 * n + batch * ctx * per_position + 5e3 * ctx})
  runs = work.features(analysis.read_runs(made_up_results(tmp_path, configs, n_runs=2) / "runs.csv"))
  f = only_fit(memory_model.fit(runs))
  assert f.fitted == ("overhead", "weights", "context", "batch", "kv") and f.note == ""
  assert f.coef["weights"] == pytest.approx(1, rel=1e-6) and f.coef["kv"] == pytest.approx(1, rel=1e-6)
  assert f.coef["overhead"] == pytest.approx(80e6, rel=1e-6) and f.coef["context"] == pytest.approx(5e3, rel=1e-6)
  assert f.coef["batch"] == pytest.approx(0, abs=1) and f.rmse_bytes < 1
