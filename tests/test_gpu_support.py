"""GPU support that CI (no GPU) can check: synthetic models of real architectures, the roofline arithmetic, and a
clear error for a CUDA request on a machine without CUDA."""
import json
from dataclasses import replace
from pathlib import Path
import numpy as np
import pytest
import defaults
from inferbench.store import collate
from inferbench.core import files, formats, metadata, roofline
from inferbench.analyse import analysis
from inferbench.models import modelfile, prepare, synthetic
from inferbench.measure import bandwidth
from inferbench.run import bench

# Published parameter counts (config.json arithmetic, as the model cards round them: 1.24B, 3.21B, 8.03B, 135M)
KNOWN_PARAMS = {"1B": 1_235_814_400, "3B": 3_212_749_824, "8B": 8_030_261_248, "135M": 134_515_008}

def arch_params(a: defaults.Arch) -> int:
  """Parameter count from the architecture alone, independent of synthetic.tensor_shapes."""
  hd = a.dim // a.n_heads
  layer = a.dim * a.n_heads * hd * 2 + a.dim * a.n_kv_heads * hd * 2 + 3 * a.dim * a.ffn_dim + 2 * a.dim
  return a.n_layers * layer + a.vocab_size * a.dim * (1 if a.tied_embeddings else 2) + a.dim

@pytest.mark.parametrize("size", KNOWN_PARAMS)
def test_real_architecture_shapes(size):
  a = defaults.MODELS[size].arch
  shapes = synthetic.tensor_shapes(a)
  assert synthetic.n_params(a) == arch_params(a) == KNOWN_PARAMS[size]
  assert len(shapes) == 2 + 9 * a.n_layers + (0 if a.tied_embeddings else 1)
  assert ("output.weight" in shapes) == (not a.tied_embeddings)
  assert shapes["token_embd.weight"] == (a.vocab_size, a.dim)
  kv = a.n_kv_heads * a.dim // a.n_heads
  assert shapes["blk.0.attn_k.weight"] == shapes["blk.0.attn_v.weight"] == (kv, a.dim)
  assert shapes[f"blk.{a.n_layers - 1}.ffn_down.weight"] == (a.dim, a.ffn_dim)
  norms = sum(int(np.prod(s)) for s in shapes.values() if len(s) == 1)
  assert synthetic.file_bytes(a) == 2 * (KNOWN_PARAMS[size] - norms) + 4 * norms  # F16 matrices, F32 norms

def test_llama_3_2_1b_f16_is_2_47_gb():
  assert synthetic.file_bytes(defaults.LLAMA_3_2_1B) == 2_471_763_968

@pytest.fixture(scope="module")
def tiny_llama3(embedded_model) -> Path:
  """A 2-layer model with Llama 3's 128256-token vocabulary: SmolLM2's tokenizer padded with filler tokens."""
  path = files.CACHE / "test" / "tiny-llama3-vocab-F16.gguf"
  if not path.is_file(): synthetic.write_model(path, replace(synthetic.TINY, vocab_size=128256), embedded_model, name="tiny-llama3", seed=1)
  return path

def test_synthetic_file_matches_architecture(tiny_llama3):
  import gguf
  a = replace(synthetic.TINY, vocab_size=128256)
  info = modelfile.describe(tiny_llama3)
  assert info.synthetic and info.vocab_size == 128256 and info.n_layers == a.n_layers
  assert info.n_params == synthetic.n_params(a) and info.weight_bytes == synthetic.file_bytes(a)
  r = gguf.GGUFReader(tiny_llama3)
  assert {t.name: tuple(int(d) for d in reversed(t.shape)) for t in r.tensors} == synthetic.tensor_shapes(a)
  tokens = r.get_field("tokenizer.ggml.tokens").contents()
  assert len(tokens) == len(set(tokens)) == 128256 and tokens[-1] == synthetic.filler_token(128256 - 49152 - 1)

def test_synthetic_weights_are_seeded(tmp_path, embedded_model):
  import gguf
  a, b = (synthetic.write_model(tmp_path / f"{n}.gguf", synthetic.TINY, embedded_model, seed=7) for n in "ab")
  ta, tb = gguf.GGUFReader(a).tensors, gguf.GGUFReader(b).tensors
  assert all(np.array_equal(x.data, y.data) for x, y in zip(ta, tb))
  assert np.std(ta[2].data.astype(np.float32)) > 0  # random, not zeros

def test_llamacpp_loads_and_tokenizes_padded_vocab(tiny_llama3):
  from inferbench.core.config import RunConfig
  from inferbench.backends.llamacpp import Tokenizer, load
  ids = Tokenizer(tiny_llama3).encode(defaults.DEFAULT_PROMPT)
  assert ids and max(ids) < 49152  # SmolLM2's ids: fillers are never produced
  engine = load(RunConfig(threads=1, ctx=128), tiny_llama3)
  assert engine.n_vocab == 128256
  steps = list(engine.generate(ids[:8], 3))
  assert len(steps) == 4 and all(0 <= s.token_id < 128256 for s in steps)

def test_both_backends_through_the_runner(tiny_llama3, tmp_path, monkeypatch):
  """The whole path, in worker processes: logs say synthetic, text is blank, decode rows get % of roofline."""
  monkeypatch.setenv("INFERBENCH_CACHE", str(tmp_path / "cache"))
  monkeypatch.setattr(bandwidth, "CACHE_DIR", tmp_path / "cache")
  (tmp_path / "cache").mkdir()
  bandwidth.cache_path("cpu").write_text(json.dumps({"gb_s": 10.0, "gb_s_min": 9.0, "gb_s_max": 11.0, "count": 20, "method": "test",
                                                    "bytes_counted": bandwidth.COUNTED["cpu"], "measured_at": "now"}))
  out = tmp_path / "out"
  common = ["--model", str(tiny_llama3), "--n-tokens", "3", "--runs", "1", "--warmup", "0", "--min-seconds", "0", "--threads", "1", "-o", str(out)]
  assert bench.main("llamacpp", common) == 0
  assert bench.main("tinygrad", common) == 0
  for backend in ("llamacpp", "tinygrad"):
    path, n, problems = collate.collate(backend, out)
    assert not problems and n == 4
    rows = list(__import__("csv").DictReader(open(path)))
    assert {r["weights"] for r in rows} == {"synthetic"} and {r["generated_text"] for r in rows} == {""}
    assert {float(r["roofline_gb_s"]) for r in rows} == {10.0}
    decode = [r for r in rows if r["phase"] == "decode"]
    runs = analysis.run_table(analysis.load(out)).query("backend == @backend")
    # the run's decode steps read min_bytes_read each in their time: the fraction of the 10 GB/s that achieves
    want = 100 * sum(int(r["min_bytes_read"]) for r in decode) / (sum(float(r["total_latency_ms"]) for r in decode) / 1e3) / 10e9
    assert runs["pct_of_roofline"].tolist() == [pytest.approx(want, rel=1e-6)]

def test_roofline_fraction():
  """The issue's H100 numbers: 607.3 tok/s, each token reading 2.47 GB, of 3000 GB/s is half the roofline."""
  assert roofline.fraction(2.47e9, 1 / 607.3, 3000.0) == pytest.approx(0.5, abs=1e-3)
  assert roofline.fraction(np.array([1e9, 2e9]), np.array([1.0, 1.0]), 4.0).tolist() == [0.25, 0.5]

def test_cpu_bandwidth_measurement_is_sane(monkeypatch):
  m = bandwidth.measure_cpu(nbytes=64 << 20, threads=2)
  assert m["bytes_moved"] == 64 << 20 and m["bytes_counted"].startswith("read (")  # decode only reads
  assert len(m["seconds"]) == bandwidth.REPEATS and min(m["seconds"]) > 0
  monkeypatch.setattr(bandwidth, "measure_cpu", lambda: dict(m))  # the very measurement above, summarized
  r = bandwidth.measure("cpu")
  rates = sorted(m["bytes_moved"] / s / 1e9 for s in m["seconds"])
  assert r["gb_s"] == round((rates[9] + rates[10]) / 2, 1) and (r["gb_s_min"], r["gb_s_max"]) == (round(rates[0], 1), round(rates[-1], 1))
  assert r["count"] == 20 and r["method"] == "numpy " + np.__version__ + " max over 64 MiB in 2 threads, wall clock"
  assert 0.05 < r["gb_s"] < 5000  # any memory or cache a 64 MiB read streams from, even on a loaded machine; never a unit slip of 1000

def test_cache_from_an_older_method_is_measured_again(tmp_path, monkeypatch):
  monkeypatch.setattr(bandwidth, "CACHE_DIR", tmp_path)
  monkeypatch.setenv("INFERBENCH_BANDWIDTH_CPU_MIB", "32")  # the measuring process reads a small buffer, for real
  old = {"gb_s": 10.8, "bytes_counted": "read + written (2 x buffer per copy)", "method": "numpy copyto"}
  bandwidth.cache_path("cpu").write_text(json.dumps(old))
  new = bandwidth.host_bandwidth("cpu")
  assert new["bytes_counted"] == bandwidth.COUNTED["cpu"] and " max over 32 MiB in " in new["method"] and new["count"] == 20
  assert new["gb_s_min"] <= new["gb_s"] <= new["gb_s_max"] and new["gb_s"] > 0
  assert json.loads(bandwidth.cache_path("cpu").read_text()) == new  # and cached
  assert bandwidth.host_bandwidth("cpu") == new  # the current method's cache is used as it is

def test_cuda_request_without_cuda_is_a_clear_error(capsys, tiny_llama3):
  if metadata.cuda_available(): pytest.skip("this machine has a CUDA device (nvidia-smi -L lists one): tests/test_gpu_smoke.py runs it")
  assert bench.main("llamacpp", ["--model", str(tiny_llama3), "--device", "cuda"]) == 2
  err = capsys.readouterr().err
  assert "no CUDA device is visible" in err and "--device cpu" in err

def test_cuda_on_cpu_only_llamacpp_build_is_a_clear_error(tiny_llama3):
  import llama_cpp
  if llama_cpp.llama_supports_gpu_offload(): pytest.skip("this llama-cpp-python was built with GPU offload")
  from inferbench.core.config import RunConfig
  from inferbench.backends.llamacpp import load
  with pytest.raises(RuntimeError, match="build_llamacpp_cuda.sh"): load(RunConfig(device="cuda"), tiny_llama3)

def test_weights_flag(monkeypatch, tiny_llama3, capsys):
  with pytest.raises(formats.ModelError, match="unknown weights"): prepare.source_path("1B", weights="fake")
  assert bench.main("llamacpp", ["--model", str(tiny_llama3), "--weights", "synthetic"]) == 2
  assert "--weights synthetic" in capsys.readouterr().err
  assert bench.parser("tinygrad").parse_args(["--weights", "real", "synthetic"]).weights == ["real", "synthetic"]

def test_model_stem_keeps_dots_in_names():
  assert prepare.model_stem(Path("SmolLM2-135M-Instruct.Q4_1.gguf")) == "SmolLM2-135M-Instruct"
  assert prepare.model_stem(Path("Llama-3.2-1B-Instruct-synthetic-seed0.F16.gguf")) == "Llama-3.2-1B-Instruct-synthetic-seed0"
  assert prepare.model_stem(Path("Llama-3.2-1B-Instruct-f16.gguf")) == "Llama-3.2-1B-Instruct-f16"

def test_tinygrad_cuda_environment(monkeypatch):
  from inferbench.core.config import RunConfig
  from inferbench.backends.tinygrad import environment
  monkeypatch.delenv("JIT", raising=False)
  env = environment(RunConfig(device="cuda", knobs={"beam": 2}))
  assert env["DEV"] == "CUDA" and env["JITBEAM"] == "2" and env["JIT"] == "2"  # no CUDA graphs (the comment there says why)
  monkeypatch.setenv("JIT", "1")
  assert "JIT" not in environment(RunConfig(device="cuda"))  # the user's JIT stands
  assert "JITBEAM" not in environment(RunConfig(device="cpu"))
