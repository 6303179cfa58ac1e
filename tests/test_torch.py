"""The PyTorch backend on real torch (its CPU build) and real models: logs and CSV, eager and compiled as two
configurations, agreement with llama.cpp on the very same F16 files, torchao's quantization, and the errors bad input gets."""
import csv, json, os, subprocess, sys
from pathlib import Path
import gguf
import numpy as np
import pytest
import benchdata
from inferbench.store import collate, rawlog
from inferbench.core import formats
from inferbench.models import modelfile, prepare
from inferbench.measure import quality
from inferbench.backends import llamacpp, pytorch
from inferbench.core.config import RunConfig

ROOT = Path(__file__).resolve().parent.parent

@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model):
  """One real run of llama.cpp, and of PyTorch eager and compiled, on the tiny F16 model, into one folder."""
  out = tmp_path_factory.mktemp("torch")
  assert benchdata.benchmark("llamacpp", out, tiny_model, runs=2) == 0
  assert benchdata.benchmark("torch", out, tiny_model, "--torch-mode", "eager", "compile", runs=2) == 0
  return out

def logs(out: Path, backend: str) -> list[rawlog.Log]: return [rawlog.parse(p) for p in sorted(out.glob(f"{backend}_*.txt"))]

def by_mode(out: Path) -> dict[str, rawlog.Log]: return {log.header["torch.mode"]: log for log in logs(out, "torch")}

def tokens(log: rawlog.Log, run: int = 0) -> list[int]: return [s["token_id"] for s in log.steps if s["run"] == run]

def test_tiny_run_gives_logs_and_seed_schema_csv(runs):
  modes = by_mode(runs)
  assert set(modes) == {"eager", "compile"} and all(log.ok for log in modes.values())
  for mode, log in modes.items():
    assert log.header["backend_device"] == "CPU" and log.header["backend_version"] == log.header["version.torch"]
    assert log.header["knobs"] == f"attn=sdpa dtype=float32 torch_mode={mode}"
    assert log.header["torch.weights"] == "dequantized to float32 by transformers' GGUF loader"
    assert [s["phase"] for s in log.steps if s["run"] == 0] == ["prefill"] + ["decode"] * 16
    assert all(0 < s["enqueue_latency_ms"] <= s["total_latency_ms"] for s in log.steps)
  (llama,) = logs(runs, "llamacpp")
  assert modes["eager"].header["prompt_token_ids"] == llama.header["prompt_token_ids"]  # the runner tokenized once
  path, n, problems = collate.collate("torch", runs)
  assert path.name == "torch.csv" and n == 2 * 2 * 17 and not problems
  rows = list(csv.DictReader(open(path, newline="")))
  assert list(rows[0])[:16] == collate.SEED_COLUMNS and {r["backend"] for r in rows} == {"torch"}
  assert {r["knobs"] for r in rows} == {"attn=sdpa dtype=float32 torch_mode=eager", "attn=sdpa dtype=float32 torch_mode=compile"}

def test_compile_is_logged_apart_from_the_measured_steps(runs):
  eager, compiled = by_mode(runs)["eager"], by_mode(runs)["compile"]
  assert "compile_seconds" not in eager.header and "recompiles" not in eager.runs[0]
  compile_s = float(compiled.header["compile_seconds"])
  assert compile_s > 1 and compiled.header["torch.compile"] == "mode=default fullgraph dynamic=False"
  assert int(compiled.header["torch.compiled_graphs"]) >= 1
  # a measured step that compiled would take seconds: each is a small fraction of the compile run
  assert max(s["total_latency_ms"] for s in compiled.steps) < compile_s * 1e3 / 20
  assert [r["recompiles"] for r in compiled.runs] == [0, 0]

def test_greedy_tokens_agree_with_llamacpp_on_tiny_f16(runs):
  (llama,) = logs(runs, "llamacpp")
  want = tokens(llama)
  assert len(want) == 17 and len(set(want)) > 4, "degenerate sequence: the agreement would prove little"
  for log in by_mode(runs).values(): assert tokens(log, 0) == tokens(log, 1) == want

def test_greedy_tokens_agree_with_llamacpp_on_135m_f16(embedded_model):
  f16 = prepare.quantized(embedded_model, "F16")
  ids = prepare.prompt_ids(embedded_model, "The history of computing is", None)
  got = {name: [s.token_id for s in m.load(RunConfig(ctx=64), f16).generate(ids, 16)] for name, m in (("llamacpp", llamacpp), ("torch", pytorch))}
  assert len(set(got["torch"])) > 4 and got["torch"] == got["llamacpp"]

def test_sampling_is_seeded(tiny_model):
  ids = list(range(100, 120))
  run = lambda seed: [s.token_id for s in pytorch.load(RunConfig(ctx=64, temperature=50.0, seed=seed), tiny_model).generate(ids, 12)]
  assert run(1) == run(1) != run(2)

def test_torchao_int8_is_smaller_and_close_to_f16(embedded_model):
  f16 = prepare.quantized(embedded_model, "F16")
  int8 = prepare.quantized(embedded_model, "torchao-int8")
  info, ref = modelfile.describe(int8), modelfile.describe(f16)
  assert int8.name == "SmolLM2-135M-Instruct.torchao-int8.json" and info.file_type == "torchao-int8" and info.n_params == ref.n_params
  # int8 weights plus a scale per row; quantize_ gives lm_head its own int8 copy, and the embedding table stays F16
  assert 8 < info.bits_per_weight < 12 and not info.tied_embeddings
  txt = quality.text(f16, 128, 64)
  q = quality.compare(quality.logits(f16, txt, 64, 1, "torch"), quality.logits(int8, txt, 64, 1, "torch"), quality.targets(txt, 64))
  assert 0.5 < q.top1_agreement < 1 and q.kl_mean > 0

def test_torchao_recipe_follows_its_source(tiny_model, tmp_path):
  int8 = prepare.quantized(tiny_model, "torchao-int8")
  recipe = tmp_path / int8.name
  recipe.write_text(int8.read_text().replace(modelfile.describe(tiny_model).sha256, "0" * 64))
  with pytest.raises(formats.ModelError, match=r"its source .* is gone or changed since the recipe was made: delete"):
    pytorch.load_model(recipe, "float32", "sdpa", "cpu")

def test_torchao_int4_on_the_cpu_says_where_it_runs(tiny_model):
  with pytest.raises(formats.ModelError, match=r"torchao-int4: torchao 0.18's int4 weight-only layouts run on CUDA only"):
    prepare.quantized(tiny_model, "torchao-int4")

def test_torch_quantization_is_refused_by_other_backends(tiny_model, tmp_path, capsys):
  assert benchdata.benchmark("llamacpp", tmp_path, tiny_model, "--quantize", "torchao-int8") == 2
  assert "torchao-int8 is PyTorch's own quantization: only torch_benchmark.py runs it" in capsys.readouterr().err

def test_unknown_torchao_spelling_fails_its_configuration_only(tiny_model, tmp_path, capfd):
  assert benchdata.benchmark("torch", tmp_path, tiny_model, "--quantize", "torchao-int3", "default") == 1
  status = {log.header["quantize"]: log.status for log in logs(tmp_path, "torch")}
  assert status["default"] == "ok"
  assert status["torchao-int3"] == "failed: ModelError: unknown torchao quantization 'torchao-int3': use one of torchao-int8, torchao-int4"
  assert "Traceback" not in capfd.readouterr().err

def rewrite(src: Path, dst: Path, arch: str = "llama", q8_1: tuple[str, ...] = ()) -> Path:
  """A copy of a llama GGUF under another architecture name, or with some tensors in Q8_1 (all zeros)."""
  r = gguf.GGUFReader(src)
  w = gguf.GGUFWriter(dst, arch)
  for f in r.fields.values():
    if f.name.startswith("GGUF.") or f.name == "general.architecture": continue
    key = f.name.replace("llama.", f"{arch}.", 1)
    if f.types[0] == gguf.GGUFValueType.ARRAY: w.add_array(key, f.contents())
    else: w.add_key_value(key, f.contents(), f.types[0])
  for t in r.tensors:
    shape = tuple(reversed([int(x) for x in t.shape]))
    if t.name in q8_1:  # a Q8_1 block: 32 int8 weights and two float32 scales, 40 bytes
      w.add_tensor(t.name, np.zeros((shape[0], shape[1] // 32 * 40), np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_1)
    else: w.add_tensor(t.name, np.asarray(t.data).reshape(shape), raw_dtype=t.tensor_type)
  w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
  return dst

def test_architecture_transformers_lacks_is_named(tiny_model, tmp_path):
  with pytest.raises(formats.ModelError, match=r"cannot load grok9.gguf: GGUF model with architecture grok9 is not supported yet: use a GGUF"):
    pytorch.load_model(rewrite(tiny_model, tmp_path / "grok9.gguf", arch="grok9"), "float32", "sdpa", "cpu")

def test_type_transformers_cannot_dequantize_is_named(tiny_model, tmp_path):
  with pytest.raises(formats.ModelError, match=r"cannot load q8_1.gguf: Dequantization for Q8_1 is not yet implemented: use a GGUF"):
    pytorch.load_model(rewrite(tiny_model, tmp_path / "q8_1.gguf", q8_1=("blk.0.ffn_down.weight",)), "float32", "sdpa", "cpu")

def run_script(tmp_path: Path, model: Path, *args: str, env: dict | None = None, fake: str | None = None) -> subprocess.CompletedProcess:
  """torch_benchmark.py in a child, with a package `fake` that fails to import put first on its path."""
  env = {**os.environ, **(env or {})}
  if fake:
    (tmp_path / "fake" / fake).mkdir(parents=True)
    (tmp_path / "fake" / fake / "__init__.py").write_text(f"raise ImportError('no {fake} here')\n")
    env["PYTHONPATH"] = f"{tmp_path / 'fake'}{os.pathsep}{ROOT}"
  return subprocess.run([sys.executable, "torch_benchmark.py", "--model", str(model), "-o", str(tmp_path / "out"), *benchdata.SMALL, "--runs", "1", *args],
                        cwd=ROOT, env=env, capture_output=True, text=True)

def only_status(tmp_path: Path) -> str:
  (log,) = logs(tmp_path / "out", "torch")
  return log.status

def test_missing_torch_is_recorded_with_the_install_line(tiny_model, tmp_path):
  out = run_script(tmp_path, tiny_model, fake="torch")
  assert out.returncode == 1 and "Traceback" not in out.stderr
  assert only_status(tmp_path) == f"failed: ModelError: PyTorch is not installed (no torch here): {pytorch.INSTALL}"

def test_missing_torchao_is_recorded_with_the_install_line(tiny_model, tmp_path):
  out = run_script(tmp_path, tiny_model, "--quantize", "torchao-int8", fake="torchao")
  assert out.returncode == 1 and "Traceback" not in out.stderr
  assert only_status(tmp_path).startswith("failed: ModelError: torchao is not installed (no torchao here): pip install torchao==0.18.0")

def test_compile_failure_fails_its_configuration_and_never_falls_back(tiny_model, tmp_path):
  # inductor compiles its CPU kernels with $CXX; a fresh cache, so no kernel compiled before is reused
  out = run_script(tmp_path, tiny_model, "--torch-mode", "compile", "eager",
                   env={"CXX": "/bin/false", "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")})
  assert out.returncode == 1
  mode = {json.loads(log.header["run_config"])["knobs"]["torch_mode"]: log for log in logs(tmp_path / "out", "torch")}
  assert mode["eager"].ok and "compile_seconds" not in mode["eager"].header
  failed = mode["compile"]
  assert failed.status.startswith("failed: ModelError: torch.compile failed (") and "--torch-mode eager runs without the compiler" in failed.status
  assert not failed.steps  # nothing measured: no silent fallback to eager

def test_sweep_takes_torch_rows(tiny_model, tmp_path):
  rows = benchdata.small_sweep(tiny_model, tmp_path, ["F16", "torchao-int8"], ["llamacpp", "torch"])
  assert set(rows) == {("F16", "llamacpp"), ("F16", "torch"), ("torchao-int8", "torch")}  # llama.cpp cannot read a torchao recipe
  assert all(r["status"] == "ok" and float(r["decode_tok_s"]) > 0 for r in rows.values())
  int8 = rows["torchao-int8", "torch"]
  assert int8["quality_measured_with"].startswith("PyTorch 2.13.0") and rows["F16", "torch"]["quality_measured_with"].startswith("llama.cpp ")
  assert 0 < float(int8["top1_agreement"]) <= 1 and 8 < float(int8["bits_per_weight"]) < 16
