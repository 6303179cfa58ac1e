"""deps/cuda.sh's detection and build choice, with a stand-in nvidia-smi and nvcc on PATH (no GPU can exist here:
the one stand-in allowed); without them, nothing of it runs."""
import os, subprocess
from pathlib import Path
import pytest
from inferbench.core import files

SCRIPT = files.ROOT / "deps" / "cuda.sh"
H200 = "NVIDIA H200, 9.0, 580.159.04"

def stub(folder: Path, name: str, body: str):
  p = folder / name
  p.write_text(f"#!/bin/sh\n{body}\n")
  p.chmod(0o755)

def fake_gpu(folder: Path, query: str = H200, cuda: str = "13.0", nvcc: str | None = "13.0"):
  """nvidia-smi answering the queries deps/cuda.sh and inferbench ask, and (unless None) an nvcc of that release."""
  stub(folder, "nvidia-smi", f"""case "$*" in
  *--query-gpu=name,compute_cap,driver_version*) printf '%s\\n' "{query}" | tr '|' '\\n' ;;
  -L) echo "GPU 0: NVIDIA H200 (UUID: GPU-0)" ;;
  *) echo "| NVIDIA-SMI 580.159.04   Driver Version: 580.159.04   CUDA Version: {cuda}  |" ;;
esac""")
  if nvcc: stub(folder, "nvcc", f'echo "Cuda compilation tools, release {nvcc}, V{nvcc}.88"')

def detect(folder: Path, **env) -> dict[str, str]:
  e = {**os.environ, "PATH": f"{folder}:/usr/bin:/bin", "CUDA_HOME": str(folder / "no-cuda"), **env}
  out = subprocess.run(["bash", str(SCRIPT), "detect"], capture_output=True, text=True, env=e, check=True).stdout
  return dict(l.split("=", 1) for l in out.splitlines())

def test_h200_with_toolkit(tmp_path):
  fake_gpu(tmp_path)
  d = detect(tmp_path)
  assert d["cuda_gpu"] == "NVIDIA H200" and d["cuda_arch"] == "90" and d["cuda_driver_cuda"] == "13.0" and d["cuda_toolkit"] == "13.0"
  assert d["cuda_llama_cmake"] == f"-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_CUDA_COMPILER={tmp_path}/nvcc"
  assert d["cuda_mlx"] == "mlx-cuda-13" and d["cuda_problem"] == ""

def test_no_gpu_is_the_cpu_machine(tmp_path):
  assert detect(tmp_path) == {"cuda_gpu": ""}
  fake_gpu(tmp_path)
  assert detect(tmp_path, INFERBENCH_CUDA="0") == {"cuda_gpu": ""}  # the way to keep CPU builds on a GPU machine

def test_missing_toolkit_says_what_to_install(tmp_path):
  fake_gpu(tmp_path, nvcc=None)
  d = detect(tmp_path)
  assert d["cuda_nvcc"] == "" and "no CUDA toolkit" in d["cuda_problem"] and "install nvcc 13.0" in d["cuda_problem"]
  assert "\n" not in d["cuda_problem"]

def test_toolkit_from_cuda_home(tmp_path):
  fake_gpu(tmp_path, nvcc=None)
  (tmp_path / "cuda" / "bin").mkdir(parents=True)
  stub(tmp_path / "cuda" / "bin", "nvcc", 'echo "Cuda compilation tools, release 12.8, V12.8.93"')
  d = detect(tmp_path, CUDA_HOME=str(tmp_path / "cuda"))
  assert d["cuda_nvcc"] == f"{tmp_path}/cuda/bin/nvcc" and d["cuda_toolkit"] == "12.8" and d["cuda_problem"] == ""

def test_toolkit_newer_than_driver(tmp_path):
  fake_gpu(tmp_path, cuda="12.4", nvcc="13.0")
  d = detect(tmp_path)
  assert "nvcc 13.0 is newer than the driver's CUDA 12.4" in d["cuda_problem"] and d["cuda_mlx"] == "mlx-cuda-12"

@pytest.mark.parametrize("query,arch", [("NVIDIA A100-SXM4-80GB, 8.0, 570.1|NVIDIA H100 80GB HBM3, 9.0, 570.1", "80;90"),
                                        ("NVIDIA GeForce RTX 4090, 8.9, 570.1", "89"), ("NVIDIA B200, 10.0, 580.1", "100")])
def test_architectures(tmp_path, query, arch):
  fake_gpu(tmp_path, query=query)
  d = detect(tmp_path)
  assert d["cuda_arch"] == arch and f"-DCMAKE_CUDA_ARCHITECTURES={arch} " in d["cuda_llama_cmake"]
  assert detect(tmp_path, CUDA_ARCH="90")["cuda_arch"] == "90"

def test_old_driver_gets_no_mlx_cuda(tmp_path):
  fake_gpu(tmp_path, cuda="11.8", nvcc="11.8")
  assert detect(tmp_path)["cuda_mlx"] == ""

def test_install_plan_with_this_venv(tmp_path):
  """What `install` would do for this machine's .venv (CPU llama-cpp-python and mlx-cpu) on a stand-in H200."""
  import sys
  fake_gpu(tmp_path)
  e = {**os.environ, "PATH": f"{tmp_path}:/usr/bin:/bin", "CUDA_HOME": str(tmp_path / "no-cuda"), "DRY_RUN": "1"}
  out = subprocess.run(["bash", str(SCRIPT), "install", sys.executable], capture_output=True, text=True, env=e, check=True).stdout
  assert "NVIDIA H200 (sm_90, driver 580.159.04, CUDA 13.0; toolkit: 13.0)" in out
  assert "building llama-cpp-python 0.3.36 with -DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90" in out
  assert "would run: deps/build_llamacpp_cuda.sh build" in out
  assert "MLX: mlx-cuda-13==0.32.4 in place of mlx-cpu" in out and "would run: " + sys.executable + " -m pip uninstall -q -y mlx-cpu" in out
  assert "torch has no CUDA here" in out and "whl/cu130" in out

def test_install_without_toolkit_builds_nothing(tmp_path):
  import sys
  fake_gpu(tmp_path, nvcc=None)
  e = {**os.environ, "PATH": f"{tmp_path}:/usr/bin:/bin", "CUDA_HOME": str(tmp_path / "no-cuda"), "DRY_RUN": "1"}
  out = subprocess.run(["bash", str(SCRIPT), "install", sys.executable], capture_output=True, text=True, env=e, check=True).stdout
  assert "no CUDA toolkit" in out and "build_llamacpp_cuda.sh" not in out

def test_install_on_a_cpu_machine_does_nothing(tmp_path):
  import sys
  e = {**os.environ, "PATH": f"{tmp_path}:/usr/bin:/bin", "DRY_RUN": "1"}
  out = subprocess.run(["bash", str(SCRIPT), "install", sys.executable], capture_output=True, text=True, env=e, check=True).stdout
  assert out == "== cuda: no NVIDIA GPU: CPU builds only\n"

def test_device_auto_picks_the_gpu_nvidia_smi_lists(tmp_path, monkeypatch, tiny_model, capsys):
  from inferbench.core import cli, metadata
  from inferbench.run import bench
  args = lambda: cli.defaults(bench.parser("llamacpp"), model=str(tiny_model))
  assert args().device == "auto" and {c.device for c in bench.plan("llamacpp", args())} == {"cpu"}  # this machine
  fake_gpu(tmp_path)
  monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
  assert metadata.gpu_line() == "GPU 0: NVIDIA H200 (UUID: GPU-0)" and metadata.cuda_available()
  assert {c.device for c in bench.plan("llamacpp", args())} == {"cuda"}
  assert {c.device for c in bench.plan("llamacpp", cli.defaults(bench.parser("llamacpp"), model=str(tiny_model), device="cpu"))} == {"cpu"}

def test_the_log_says_which_device_auto_picked(tmp_path, tiny_model, capsys):
  from inferbench.run import bench
  assert bench.main("llamacpp", ["--model", str(tiny_model), "--n-tokens", "2", "--runs", "1", "--warmup", "0", "--min-seconds", "0",
                                 "--threads", "1", "-o", str(tmp_path)]) == 0
  assert "device: auto -> cpu (nvidia-smi lists no GPU)" in capsys.readouterr().err
