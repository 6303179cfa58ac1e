"""Bad command-line values: one line that names the value and a way out, exit code 2, no traceback, nothing run."""
import os, subprocess, sys
from pathlib import Path
import pytest
from inferbench.run import bench, sweep

ROOT = Path(__file__).resolve().parent.parent
# a folder that exists and cannot be written to: root ignores permission bits, but not sysfs
READ_ONLY = Path("/sys/kernel") if os.geteuid() == 0 else None

@pytest.fixture
def read_only(tmp_path) -> Path:
  if READ_ONLY: return READ_ONLY
  ro = tmp_path / "ro"
  ro.mkdir(mode=0o555)
  return ro

def call(main, argv: list[str], capsys) -> tuple[int, str]:
  try: rc = main(argv)
  except SystemExit as e: rc = e.code
  return rc, capsys.readouterr().err

def one_line(err: str, *words: str) -> bool:
  return err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err and all(w in err for w in words)

BAD = [  # (arguments, words the message must hold)
  (["--ctx", "0", "--n-tokens", "128"], ["--ctx 0 is smaller than the prompt", "pass --ctx 165 or more"]),
  (["--ctx", "-8"], ["--ctx -8 is smaller"]),
  (["--ctx", "16", "--n-tokens", "128"], ["--ctx 16", "prompt (37 tokens) + --n-tokens 128 = 165", "pass --ctx 165 or more"]),
  (["--ctx", "100", "--n-tokens", "64"], ["--ctx 100", "37 tokens", "--n-tokens 64 = 101"]),
  (["--threads", "0"], ["--threads", "pass 1 or more"]),
  (["--threads", "-4"], ["--threads", "-4"]),
  (["--threads", "two"], ["--threads", "'two' is not a whole number"]),
  (["--runs", "0"], ["--runs", "pass 1 or more"]),
  (["--runs", "-3"], ["--runs", "-3"]),
  (["--n-tokens", "0"], ["--n-tokens", "pass 1 or more"]),
  (["--n-tokens", "-1"], ["--n-tokens", "-1"]),
  (["--timeout", "0"], ["--timeout", "> 0"]),
  (["--timeout", "-5"], ["--timeout", "-5"]),
  (["--timeout", "nan"], ["--timeout", "not a finite number"]),
  (["--warmup", "-1"], ["--warmup", "pass 0 or more"]),
  (["--min-seconds", "-1"], ["--min-seconds", ">= 0"]),
  (["--seed", "-1"], ["--seed", "pass 0 or more"]),
  (["--no-such-flag"], ["unrecognized arguments: --no-such-flag", "--help"]),
]
BENCH_ONLY = [
  (["--temperature", "-0.5"], ["--temperature", ">= 0"]),
  (["--prompt-tokens", "0"], ["--prompt-tokens", "pass 1 or more"]),
  (["--size", "999B"], ["unknown size '999B'", "--model PATH"]),
  (["--quantize", "q17"], ["unknown quantization 'q17'", "nf4"]),
  (["--prompt-tokens", "2000"], ["--ctx 1024", "prompt (2000 tokens)", "pass --ctx 2128 or more"]),
]

@pytest.mark.parametrize("backend", ["llamacpp", "tinygrad"])
@pytest.mark.parametrize("args, words", BAD + BENCH_ONLY)
def test_benchmark_refuses_bad_values(backend, args, words, tmp_path, capsys):
  rc, err = call(lambda a: bench.main(backend, a), [*args, "-o", str(tmp_path / "out")], capsys)
  assert rc == 2 and one_line(err, *words), err
  assert not (tmp_path / "out").exists()  # refused before anything ran or was written

@pytest.mark.parametrize("args, words", BAD + [
  (["--quality-ctx", "0"], ["--quality-ctx", "pass 2 or more"]),
  (["--quality-tokens", "100", "--quality-ctx", "64"], ["--quality-tokens 100", "--quality-ctx 64", "pass --quality-tokens 64"]),
  (["--task-threads", "0"], ["--task-threads", "pass 1 or more"]),
  (["--task-examples", "-1"], ["--task-examples", "pass 0 or more"]),
  (["--quantize", "F16", "Q9_Z"], ["unknown quantization Q9_Z", "Q4_K_M"]),
])
def test_sweep_refuses_bad_values(args, words, tmp_path, capsys):
  rc, err = call(sweep.main, [*args, "-o", str(tmp_path / "out"), "--plot", str(tmp_path / "plots" / "p.png")], capsys)
  assert rc == 2 and one_line(err, *words), err
  assert not (tmp_path / "out").exists()

def test_zero_gpus_is_refused(tmp_path, capsys):
  rc, err = call(lambda a: bench.main("llamacpp", a), ["--gpus", "0", "-o", str(tmp_path / "out")], capsys)
  assert rc == 2 and one_line(err, "--gpus 0", "at least 1 GPU"), err

def outputs(tmp_path: Path, read_only: Path):
  (tmp_path / "a-file").write_text("not a folder")
  return [(tmp_path / "a-file", "is a file, not a folder: pass a folder"),
          (tmp_path / "a-file" / "below", "is not a folder this user can write to (Not a directory)"),
          (read_only, "is not a folder this user can write to"),
          (read_only / "new", "is not a folder this user can write to")]

def test_bad_output_folder_is_refused_up_front(tmp_path, read_only, capsys):
  for out, why in outputs(tmp_path, read_only):
    for main in (lambda a: bench.main("llamacpp", a), lambda a: bench.main("tinygrad", a), sweep.main):
      rc, err = call(main, ["-o", str(out), "--plot", str(tmp_path / "p.png")] if main is sweep.main else ["-o", str(out)], capsys)
      assert rc == 2 and one_line(err, f"-o {out}", why), err
  rc, err = call(sweep.main, ["-o", str(tmp_path / "out"), "--plot", str(read_only / "p.png")], capsys)
  assert rc == 2 and one_line(err, f"--plot's folder {read_only}", "pass another folder"), err

@pytest.mark.parametrize("script", ["llamacpp_benchmark.py", "tinygrad_benchmark.py", "llamacpp_sweep.py"])
def test_scripts_exit_2_with_one_line(script, tmp_path):
  """The real entry points, as a user runs them."""
  (tmp_path / "a-file").write_text("")
  for args, words in ((["--threads", "0"], ["--threads"]), (["--ctx", "16"], ["--ctx 16", "pass --ctx"]),
                      (["-o", str(tmp_path / "a-file")], ["is a file, not a folder"])):
    out = subprocess.run([sys.executable, script, *args], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and one_line(out.stderr, *words), out.stderr

@pytest.mark.parametrize("mode", ["layer", "row"])
def test_a_split_over_gpus_is_refused_on_the_cpu_naming_the_mode(mode, tmp_path, capsys):
  rc, err = call(lambda a: bench.main("llamacpp", a), ["--split-mode", mode, "--gpus", "2", "--device", "cpu", "-o", str(tmp_path / "out")], capsys)
  assert rc == 2 and one_line(err, f"--split-mode {mode} needs GPUs", "is on the CPU"), err
  assert not (tmp_path / "out").exists()

def test_the_split_mode_and_gpus_reach_llamacpps_model_parameters(monkeypatch, tiny_model):
  from inferbench.backends import llamacpp
  lib, seen = llamacpp.llama_lib(), {}
  def load(path, params):  # what llama.cpp would receive; no CUDA here, so nothing is loaded
    seen.update(split_mode=params.split_mode, tensor_split=[params.tensor_split[i] for i in range(4)] if params.tensor_split else None)
    return None
  monkeypatch.setattr(lib, "llama_model_load_from_file", load)
  with pytest.raises(ValueError): llamacpp.load_model(tiny_model, n_gpu_layers=-1, split_mode="row", gpus=2)
  assert seen == {"split_mode": lib.LLAMA_SPLIT_MODE_ROW, "tensor_split": [1.0, 1.0, 0.0, 0.0]}
  with pytest.raises(ValueError): llamacpp.load_model(tiny_model, split_mode="layer", gpus=4)
  assert seen == {"split_mode": lib.LLAMA_SPLIT_MODE_LAYER, "tensor_split": [1.0, 1.0, 1.0, 1.0]}
  with pytest.raises(ValueError): llamacpp.load_model(tiny_model)
  assert seen == {"split_mode": lib.LLAMA_SPLIT_MODE_NONE, "tensor_split": None}
