#!/usr/bin/env bash
# Installs what inferbench needs, idempotently: Debian packages, a virtualenv in .venv, pinned Python packages.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v clang >/dev/null || need+=(clang)              # tinygrad's CPU backend compiles its kernels with clang
command -v pdftoppm >/dev/null || need+=(poppler-utils)   # renders and inspects the deck in tests
if ((${#need[@]})); then
  echo "== installing Debian packages: ${need[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
# An NVIDIA GPU (nvidia-smi lists one): deps/cuda.sh chooses the CUDA builds. A system torch that sees the GPU is the
# machine's own CUDA build: .venv then sees the system's packages and keeps that torch instead of the pin.
gpu=$(bash deps/cuda.sh detect | sed -n 's/^cuda_gpu=//p')
own=""  # pins the machine's own packages stand in for
if [ -n "$gpu" ] && python3 -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then own=torch; fi
if [ ! -x .venv/bin/python ]; then
  if [ -n "$own" ]; then
    echo "== creating .venv, seeing the system's packages: its torch $(python3 -c "import torch; print(torch.__version__)") has CUDA"
    python3 -m venv --system-site-packages .venv
  else echo "== creating .venv"; python3 -m venv .venv; fi
fi
grep -q "include-system-site-packages = true" .venv/pyvenv.cfg 2>/dev/null || own=""
export INFERBENCH_OWN="$own"
# llama.cpp's AMX kernels, which -march=native builds in on a CPU with AMX, segfault at the first matmul of every
# quantized model on some of them (this project's 2-core Xeon of 2026-12-03, Q4_1, Q4_K_M and Q8_0 alike; llama.cpp
# issue 20824, where the crash depends on the machine): llama-cpp-python is built without them, and a build with them
# (an earlier .venv, or the wheel pip cached from it) is built again; a CUDA build is deps/cuda.sh's to keep.
case "$(uname -m)" in x86_64 | amd64) no_amx="-mno-amx-tile -mno-amx-int8"
  export CFLAGS="${CFLAGS:-} $no_amx" CXXFLAGS="${CXXFLAGS:-} $no_amx";; esac
if .venv/bin/python -c "import llama_cpp, sys; sys.exit('AMX_INT8 = 1' not in llama_cpp.llama_print_system_info().decode() or llama_cpp.llama_supports_gpu_offload())" 2>/dev/null; then
  echo "== building llama-cpp-python again, without the AMX kernels that crash on this CPU (~11 min on 2 cores)"
  .venv/bin/pip cache remove llama_cpp_python >/dev/null 2>&1 || true
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" .venv/bin/pip install -q --disable-pip-version-check --no-deps --force-reinstall \
    "$(grep -i '^llama_cpp_python==' deps/requirements.txt)"
fi
if ! .venv/bin/python - <<'PY' 2>/dev/null
import importlib.metadata as md, os, pathlib, sys
own = set(os.environ["INFERBENCH_OWN"].split())
try: md.version("mlx-cuda-13"); own.add("mlx-cpu")  # deps/cuda.sh put MLX's CUDA build in its place
except md.PackageNotFoundError:
  try: md.version("mlx-cuda-12"); own.add("mlx-cpu")
  except md.PackageNotFoundError: pass
pins = [l.split("==") for f in ("deps/requirements.txt", "deps/requirements-nodeps.txt")
        for l in pathlib.Path(f).read_text().splitlines() if "==" in l and not l.startswith("#")]
norm = lambda s: s.lower().replace("_", "-").split("+")[0]  # torch 2.13.0+cpu is the pin 2.13.0
sys.exit(any(norm(md.version(n)) != norm(v) for n, v in pins if norm(n) not in own))
PY
then
  echo "== installing pinned Python packages (llama-cpp-python compiles from source the first time: ~11 min on 2 cores)"
  export CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)"
  req=deps/requirements.txt
  if [ -n "$own" ]; then req=$(mktemp); grep -v "^torch==" deps/requirements.txt > "$req"; fi
  .venv/bin/pip install -q --disable-pip-version-check -r "$req"
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -r deps/requirements-nodeps.txt
fi
# the CUDA builds (llama-cpp-python with GGML_CUDA, MLX's CUDA build, tinygrad and torch checked), each step skipped
# where it is done already; a missing toolkit is one line saying what to install
if [ -n "$gpu" ]; then bash deps/cuda.sh install .venv/bin/python; fi
# the package itself, editable: the `inferbench` command, and the flat scripts import it from this checkout
if [ ! -x .venv/bin/inferbench ] || ! .venv/bin/python -I -c "import inferbench, sys; sys.exit(inferbench.__path__[0] != '$PWD/inferbench')" 2>/dev/null; then
  echo "== installing inferbench (editable) into .venv"
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
fi
