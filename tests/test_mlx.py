"""The MLX backend on real MLX (its CPU device) and real models: logs and CSV, agreement with llama.cpp on the very
same F16 files, MLX's own quantization, and the errors bad input gets."""
import csv, os, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
import benchdata
from inferbench.store import collate, rawlog
from inferbench.core import formats
from inferbench.models import modelfile, prepare
from inferbench.measure import quality
from inferbench.backends import llamacpp, mlx
from inferbench.core.config import RunConfig

ROOT = Path(__file__).resolve().parent.parent

@pytest.fixture(scope="module")
def both(tmp_path_factory, tiny_model):
  """One real run of llama.cpp and of MLX on the tiny F16 model, into one folder."""
  out = tmp_path_factory.mktemp("mlx")
  for backend in ("llamacpp", "mlx"): assert benchdata.benchmark(backend, out, tiny_model) == 0
  return out

def only_log(out: Path, backend: str) -> rawlog.Log:
  (path,) = out.glob(f"{backend}_*.txt")
  return rawlog.parse(path)

def tokens(log: rawlog.Log) -> list[int]: return [s["token_id"] for s in log.steps if s["run"] == 0]

def test_tiny_run_gives_log_and_seed_schema_csv(both, tiny_model):
  log = only_log(both, "mlx")
  assert log.ok and log.header["backend_device"] == "cpu" and log.header["version.mlx"] == log.header["backend_version"]
  assert log.header["mlx.weights"].startswith("native: mx.load") and log.header["mlx.pipeline"] == "1"
  assert [s["phase"] for s in log.steps] == ["prefill"] + ["decode"] * 16
  assert all(0 < s["enqueue_latency_ms"] <= s["total_latency_ms"] for s in log.steps)
  weights = modelfile.describe(tiny_model).weight_bytes  # mx.get_peak_memory: MLX holds every weight, and the KV cache
  assert weights < log.runs[0]["peak_device_bytes"] < 3 * weights
  assert log.header["prompt_token_ids"] == only_log(both, "llamacpp").header["prompt_token_ids"]  # the runner tokenized once
  path, n, problems = collate.collate("mlx", both)
  assert path.name == "mlx.csv" and n == 17 and not problems
  rows = list(csv.DictReader(open(path, newline="")))
  assert list(rows[0])[:16] == collate.SEED_COLUMNS and rows[0]["backend"] == "mlx" and rows[0]["status"] == "ok"

def test_greedy_tokens_agree_with_llamacpp_on_tiny_f16(both):
  a, b = tokens(only_log(both, "llamacpp")), tokens(only_log(both, "mlx"))
  assert len(a) == len(b) == 17
  assert len(set(a)) > 4, "degenerate sequence: the agreement would prove little"
  assert a == b

def test_pipelined_and_synchronous_give_the_same_tokens(tiny_model):
  ids = list(range(100, 120))
  run = lambda pipeline: [s.token_id for s in mlx.load(RunConfig(ctx=64, knobs={"pipeline": pipeline}), tiny_model).generate(ids, 16)]
  a = run(True)
  assert len(a) == 17 and len(set(a)) > 4 and a == run(False)  # varying tokens: a constant sequence would agree too

def test_greedy_tokens_agree_with_llamacpp_on_135m_f16(embedded_model):
  f16 = prepare.quantized(embedded_model, "F16")
  ids = prepare.prompt_ids(embedded_model, "The history of computing is", None)
  got = {name: [s.token_id for s in m.load(RunConfig(ctx=64), f16).generate(ids, 16)] for name, m in (("llamacpp", llamacpp), ("mlx", mlx))}
  assert len(set(got["mlx"])) > 4 and got["mlx"] == got["llamacpp"]

def test_mlx_q4_is_smaller_and_close_to_f16(embedded_model):
  f16 = prepare.quantized(embedded_model, "F16")
  q4 = prepare.quantized(embedded_model, "mlx-q4")
  info = modelfile.describe(q4)
  assert q4.name == "model.safetensors" and q4.parent.name.endswith(".mlx-q4-g64") and info.file_type == "mlx-q4-g64"
  assert info.weight_bytes < modelfile.describe(f16).weight_bytes / 3
  assert 4.5 <= info.bits_per_weight < 5  # 4 bits plus a float16 scale and bias per 64 weights, float16 norms
  txt = quality.text(f16, 64, 32)  # 62 predictions: MLX's CPU prefill is slow (reference BLAS)
  q = quality.compare(quality.logits(f16, txt, 32, 1, "mlx"), quality.logits(q4, txt, 32, 1, "mlx"), quality.targets(txt, 32))
  assert 0.5 < q.top1_agreement < 1 and q.kl_mean > 0  # 0.61 when written

def test_unknown_mlx_spelling_fails_its_configuration_only(tiny_model, tmp_path, capfd):
  assert benchdata.benchmark("mlx", tmp_path, tiny_model, "--quantize", "mlx-q7", "default") == 1
  status = {rawlog.parse(p).header["quantize"]: rawlog.parse(p).status for p in tmp_path.glob("mlx_*.txt")}
  assert status["default"] == "ok"
  assert status["mlx-q7"].startswith("failed: ModelError: unknown MLX quantization 'mlx-q7': use mlx-q{2,3,4,5,6,8}")
  assert "Traceback" not in capfd.readouterr().err

def test_mlx_quantization_is_refused_by_other_backends(tiny_model, tmp_path, capsys):
  assert benchdata.benchmark("llamacpp", tmp_path, tiny_model, "--quantize", "mlx-q4") == 2
  assert "only mlx_benchmark.py runs it" in capsys.readouterr().err

def test_architecture_mlx_lm_lacks_names_the_supported_ones():
  with pytest.raises(formats.ModelError, match=r"architecture 'gpt2' is not one the MLX backend maps to mlx-lm: supported: llama"):
    mlx.config({"general.architecture": "gpt2"}, {}, Path("x.gguf"))

def test_type_neither_path_reads_is_named(tmp_path):
  import gguf
  path = tmp_path / "q8_1.gguf"
  w = gguf.GGUFWriter(path, "llama")
  w.add_tensor("token_embd.weight", np.zeros((4, 40), np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_1)  # 4 rows, one 40-byte block of 32 weights each
  w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
  with pytest.raises(formats.ModelError, match=r"token_embd.weight is GGUF type Q8_1, which neither mx.load \(F32, F16, Q4_0, Q4_1, Q8_0\) nor gguf"):
    mlx.load_gguf(path)

def test_k_quants_are_dequantized_and_say_so(tiny_model):
  from gguf import GGUFReader
  from gguf.quants import dequantize
  path = prepare.quantized(tiny_model, "Q4_K_M")  # the tiny model's rows fall back to Q5_0 and Q8_0 (test_pipeline)
  model, how = mlx.load_model(path)
  assert how == "dequantized to F16 by gguf's numpy dequantizer (Q5_0: types mx.load does not read)"
  (embd,) = [t for t in GGUFReader(path).tensors if t.name == "token_embd.weight"]
  assert embd.tensor_type.name == "Q5_0"  # the weights MLX holds are the file's, dequantized
  assert np.array_equal(np.array(model.model.embed_tokens.weight), dequantize(embd.data, embd.tensor_type).astype(np.float16))

def test_cuda_without_mlx_gpu_says_how(tiny_model):
  with pytest.raises(formats.ModelError, match=r"has no GPU backend: install mlx-cuda-13"):
    mlx.load(RunConfig(device="cuda"), tiny_model)

def test_missing_mlx_is_recorded_with_the_install_line(tiny_model, tmp_path):
  fake = tmp_path / "fake"
  (fake / "mlx").mkdir(parents=True)
  (fake / "mlx" / "__init__.py").write_text("raise ImportError('no mlx here')\n")
  env = {**os.environ, "PYTHONPATH": f"{fake}{os.pathsep}{ROOT}"}
  out = subprocess.run([sys.executable, "mlx_benchmark.py", "--model", str(tiny_model), "-o", str(tmp_path / "out"), *benchdata.SMALL, "--runs", "1"],
                       cwd=ROOT, env=env, capture_output=True, text=True)
  assert out.returncode == 1 and "Traceback" not in out.stderr
  (log,) = (tmp_path / "out").glob("mlx_*.txt")
  assert rawlog.parse(log).status.startswith("failed: ModelError: MLX is not installed (no mlx here): pip install mlx==0.32.4 mlx-lm==0.32.2")

def test_sweep_takes_mlx_rows(tiny_model, tmp_path):
  rows = benchdata.small_sweep(tiny_model, tmp_path, ["F16", "mlx-q4"], ["llamacpp", "mlx"])
  assert set(rows) == {("F16", "llamacpp"), ("F16", "mlx"), ("mlx-q4", "mlx")}  # llama.cpp cannot read an MLX folder
  assert all(r["status"] == "ok" and float(r["decode_tok_s"]) > 0 for r in rows.values())
  q4 = rows["mlx-q4", "mlx"]
  assert q4["quality_measured_with"].startswith("MLX ") and rows["F16", "mlx"]["quality_measured_with"].startswith("llama.cpp ")
  assert 0 < float(q4["top1_agreement"]) < 1 and float(q4["bits_per_weight"]) < 6
