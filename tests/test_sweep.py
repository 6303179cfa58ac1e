"""The quantization sweep on the tiny model: quality metrics where they can be proved, resume, failures."""
import csv, math
import numpy as np
import pytest
from inferbench.measure import quality
from inferbench.run import sweep

SMALL = ["--task-examples", "0", "--runs", "1", "--warmup", "0", "--min-seconds", "0", "--n-tokens", "4",
         "--quality-tokens", "128", "--quality-ctx", "64", "--threads", "1"]

@pytest.fixture(scope="module")
def text(tiny_model): return quality.text(tiny_model, 128, 64)

def test_kl_of_f16_against_itself_is_zero(tiny_model, text):
  a, b = quality.logits(tiny_model, text, 64, 1), quality.logits(tiny_model, text, 64, 1)  # two separate evaluations
  q = quality.compare(a, b, quality.targets(text, 64))
  assert (q.kl_mean, q.kl_p99, q.top1_agreement, q.n_scored) == (0.0, 0.0, 1.0, 2 * 63)
  noisy = quality.compare(a, a + np.random.default_rng(0).normal(0, 1, a.shape).astype(np.float32), quality.targets(text, 64))
  assert noisy.kl_mean > 0 and noisy.top1_agreement < 1

def test_perplexity_matches_direct_computation(tiny_model, text):
  x = quality.logits(tiny_model, text, 64, 1)
  nll = []
  for w in range(2):  # window w's position i predicts text token w*64 + i + 1
    for i in range(63):
      z = x[w * 63 + i].astype(np.float64)
      p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
      nll.append(-math.log(p[text.ids[w * 64 + i + 1]]))
  assert quality.compare(x, x, quality.targets(text, 64)).perplexity == pytest.approx(math.exp(np.mean(nll)), rel=1e-9)

def test_metrics_on_known_distributions():
  vocab = 10
  assert quality.compare(np.zeros((3, vocab)), np.zeros((3, vocab)), np.array([0, 4, 9])).perplexity == pytest.approx(vocab)
  p, q = np.log([[0.4, 0.6]]), np.log([[0.9, 0.1]])
  r = quality.compare(p, q, np.array([0]))
  assert r.kl_mean == pytest.approx(0.4 * math.log(0.4 / 0.9) + 0.6 * math.log(0.6 / 0.1))
  assert r.top1_agreement == 0.0 and r.perplexity == pytest.approx(1 / 0.9)

def test_bad_quant_names_are_refused(capsys):
  assert sweep.main(["--quantize", "F16", "Q9_Z"]) == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and "Q9_Z" in err and "Q4_K_M" in err

def _read(path):
  with open(path, newline="") as f: return {r["quant"]: r for r in csv.DictReader(f)}

@pytest.fixture(scope="module")
def swept(tiny_model, tmp_path_factory):
  """One sweep of F16 and a Q4_0 whose cached file is corrupt, in a model cache of its own."""
  tmp = tmp_path_factory.mktemp("sweep")
  (tmp / "models" / "quantized").mkdir(parents=True)
  (tmp / "models" / "quantized" / f"{tiny_model.stem}.Q4_0.gguf").write_bytes(b"not a gguf")
  argv = ["--model", str(tiny_model), "--size", "tiny", "--quantize", "Q4_0", "F16", "-o", str(tmp / "out"), "--plot", str(tmp / "p.png"), *SMALL]
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv("INFERBENCH_MODELS", str(tmp / "models"))
    rc = sweep.main(argv)
  return tmp, argv, rc

def test_failing_quantization_is_recorded_and_sweep_goes_on(swept):
  tmp, _, rc = swept
  rows = _read(tmp / "out" / "sweep_tiny.csv")
  assert rc == 1 and list(rows) == ["Q4_0", "F16"]
  assert rows["Q4_0"]["status"].startswith("failed:") and "not a readable GGUF" in rows["Q4_0"]["status"]
  assert rows["F16"]["status"] == "ok" and float(rows["F16"]["kl_mean"]) == 0.0 and float(rows["F16"]["decode_tok_s"]) > 0
  assert float(rows["F16"]["bits_per_weight"]) == pytest.approx(16, abs=0.01) and rows["F16"]["quality_tokens"] == "128" and rows["F16"]["quality_ctx"] == "64"
  assert (tmp / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (tmp / "p.png").stat().st_size > 10_000  # a drawn plot

def test_resume_skips_finished_work(swept, capsys):
  tmp, argv, _ = swept
  logs = sorted((tmp / "out").glob("llamacpp_*.txt"))
  before = _read(tmp / "out" / "sweep_tiny.csv")
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv("INFERBENCH_MODELS", str(tmp / "models"))
    assert sweep.main(argv) == 1  # Q4_0 still fails
  err = capsys.readouterr().err
  assert "[F16] speed-llamacpp: done" in err and "[F16] quality: done" in err and "skipped" in err
  assert sorted((tmp / "out").glob("llamacpp_*.txt")) == logs  # no new speed run
  after = _read(tmp / "out" / "sweep_tiny.csv")
  assert after["F16"] == before["F16"] and after["Q4_0"]["status"].startswith("failed:")
