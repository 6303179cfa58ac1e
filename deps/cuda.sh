#!/usr/bin/env bash
# The CUDA builds, chosen from what the machine has; deps/setup.sh runs it where nvidia-smi lists a GPU.
#
#   deps/cuda.sh detect         KEY=value lines: the GPU, its architecture, the driver's and the toolkit's CUDA, the
#                               builds that fit, and `cuda_problem` (one line saying what to install) where one is missing
#   deps/cuda.sh install PY     set them up in PY's environment, idempotently (each step checks first; DRY_RUN=1 only
#                               prints what it would do):
#     llama-cpp-python  built with GGML_CUDA for the GPU's architecture by deps/build_llamacpp_cuda.sh (~5 min on 16
#                       cores), its wheel and llama-bench kept in deps/src/llama-cuda-smARCH/ (a second run installs that)
#     MLX               mlx-cuda-13 (or -12, the driver's CUDA major) in place of mlx-cpu, where pip finds a wheel for
#                       this Python and glibc (manylinux_2_35)
#     tinygrad          DEV=CUDA checked with one small kernel (it compiles with the driver's nvrtc)
#     torch             the machine's own where it has CUDA (deps/setup.sh then makes .venv see it), else checked
#
# Nothing here runs on a machine without an NVIDIA GPU. INFERBENCH_CUDA=0 keeps the CPU builds (INFERBENCH_MLX=0: MLX's); CUDA_ARCH overrides
# the architecture (CMAKE_CUDA_ARCHITECTURES, e.g. "80;90"); TARBALL: a llama-cpp-python source tarball already at
# hand (a machine without PyPI: deps/build_llamacpp_cuda.sh trim; with BUILD_ISOLATION=0 the build uses PY's own
# scikit-build-core, cmake and ninja), else pip downloads the pinned sdist. PIP_TARGET: install llama-cpp-python there.
set -euo pipefail
cd "$(dirname "$0")/.."
pin() { sed -n "s/^$1==//p" deps/requirements.txt; }

detect() {
  [ "${INFERBENCH_CUDA:-1}" = 0 ] && { echo "cuda_gpu="; return; }
  local q; q=$(nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader 2>/dev/null) || q=""
  if [ -z "$q" ]; then echo "cuda_gpu="; return; fi
  local gpu arch driver dcuda nvcc="" tk="" mlx="" problem="" glibc
  gpu=$(head -1 <<<"$q" | cut -d, -f1 | xargs)
  arch=${CUDA_ARCH:-$(cut -d, -f2 <<<"$q" | tr -d ' .' | sort -u | paste -sd';')}
  driver=$(head -1 <<<"$q" | cut -d, -f3 | xargs)
  dcuda=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' | head -1)
  # CUDA_HOME names the toolkit; without it, the usual places
  local places=("$(command -v nvcc || true)")
  if [ -n "${CUDA_HOME:-}" ]; then places+=("$CUDA_HOME/bin/nvcc"); else places+=(/usr/local/cuda/bin/nvcc /usr/local/cuda-*/bin/nvcc); fi
  for c in "${places[@]}"; do [ -n "$c" ] && [ -f "$c" ] && [ -x "$c" ] && { nvcc=$c; break; }; done
  [ -n "$nvcc" ] && tk=$("$nvcc" --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p' | head -1)
  glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
  if [ -z "$nvcc" ]; then
    problem="NVIDIA GPU found ($gpu) but no CUDA toolkit: install nvcc ${dcuda:+$dcuda }(apt-get install nvidia-cuda-toolkit, or developer.nvidia.com/cuda-downloads) and run deps/setup.sh again; llama.cpp stays on its CPU build"
  elif [ -n "$dcuda" ] && [ -n "$tk" ] && [ "$(printf '%s\n' "$tk" "$dcuda" | sort -V | tail -1)" != "$dcuda" ]; then
    problem="nvcc $tk is newer than the driver's CUDA $dcuda (driver $driver): install CUDA $dcuda's toolkit or a newer driver, and run deps/setup.sh again"
  fi
  case "${dcuda%%.*}" in 1[3-9]) mlx=mlx-cuda-13 ;; 12) mlx=mlx-cuda-12 ;; esac
  [ -n "$mlx" ] && [ -n "$glibc" ] && [ "$(printf '%s\n' 2.35 "$glibc" | sort -V | head -1)" != 2.35 ] && mlx=""  # its wheels are manylinux_2_35
  echo "cuda_gpu=$gpu"
  echo "cuda_arch=$arch"
  echo "cuda_driver=$driver"
  echo "cuda_driver_cuda=$dcuda"
  echo "cuda_nvcc=$nvcc"
  echo "cuda_toolkit=$tk"
  echo "cuda_llama_cmake=-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=$arch${nvcc:+ -DCMAKE_CUDA_COMPILER=$nvcc}"
  echo "cuda_mlx=$mlx"
  echo "cuda_problem=$problem"
}

say() { echo "== cuda: $*"; }
act() { if [ "${DRY_RUN:-0}" = 1 ]; then echo "   would run: $*"; else "$@"; fi; }

install() {
  local PY=${1:?usage: $0 install PYTHON}
  local k v
  while IFS='=' read -r k v; do declare "$k=$v"; done < <(detect)
  [ -z "${cuda_gpu:-}" ] && { say "no NVIDIA GPU: CPU builds only"; return 0; }
  say "$cuda_gpu (sm_$cuda_arch, driver $cuda_driver, CUDA $cuda_driver_cuda; toolkit: ${cuda_toolkit:-none})"
  [ -n "$cuda_problem" ] && say "$cuda_problem"
  # llama-cpp-python with GGML_CUDA (needs the toolkit)
  if "$PY" -c "import llama_cpp, sys; sys.exit(not llama_cpp.llama_supports_gpu_offload())" 2>/dev/null; then
    say "llama-cpp-python has CUDA already"
  elif [ -z "$cuda_problem" ]; then
    local ver dir wheel; ver=$(pin llama_cpp_python); dir=deps/src/llama-cuda-sm${cuda_arch//;/-}
    wheel=$(ls "$dir"/wheel/llama_cpp_python-"$ver"-*.whl 2>/dev/null | head -1 || true)
    if [ -n "$wheel" ]; then
      say "installing the CUDA build made before: $wheel"
      act "$PY" -m pip install -q --no-deps --force-reinstall "$wheel"
    else
      local src=${TARBALL:-deps/src/llama_cpp_python-$ver.tar.gz}
      [ -e "$src" ] || act "$PY" -m pip download -q --no-deps --no-binary :all: -d deps/src "llama-cpp-python==$ver"
      say "building llama-cpp-python $ver with $cuda_llama_cmake (about 5 minutes on 16 cores; log: $dir/build.log)"
      act mkdir -p "$dir"
      if [ "${DRY_RUN:-0}" = 1 ]; then act deps/build_llamacpp_cuda.sh build "$src" "$cuda_arch"
      else BUILD_DIR=$dir PYTHON=$PY BUILD_ISOLATION=${BUILD_ISOLATION:-1} CMAKE_ARGS="-DCMAKE_CUDA_COMPILER=$cuda_nvcc" \
             deps/build_llamacpp_cuda.sh build "$src" "$cuda_arch" > "$dir/build.log" 2>&1 || { say "the build failed: tail $dir/build.log"; tail -5 "$dir/build.log"; }
      fi
    fi
  fi
  # MLX's CUDA build in place of its CPU build, where a wheel fits this Python
  local mver; mver=$(pin mlx)
  if [ "${INFERBENCH_MLX:-1}" = 0 ]; then say "MLX: skipped (INFERBENCH_MLX=0)"
  elif [ -z "$cuda_mlx" ]; then say "MLX: no CUDA wheel fits (driver CUDA $cuda_driver_cuda, glibc $(getconf GNU_LIBC_VERSION 2>/dev/null)): MLX stays on CPU"
  elif "$PY" -c "import importlib.metadata as m; m.version('$cuda_mlx')" 2>/dev/null; then say "MLX: $cuda_mlx installed already"
  elif [ -n "$mver" ]; then
    say "MLX: $cuda_mlx==$mver in place of mlx-cpu"
    if act "$PY" -m pip install -q --disable-pip-version-check "$cuda_mlx==$mver"; then act "$PY" -m pip uninstall -q -y mlx-cpu
      act "$PY" -m pip install -q --no-deps --force-reinstall "$cuda_mlx==$mver"  # mlx-cpu's removal took files both ship
    else say "MLX: pip found no $cuda_mlx wheel for this Python: MLX stays on CPU"; fi
  fi
  # tinygrad on DEV=CUDA
  if [ "${DRY_RUN:-0}" != 1 ]; then
    if DEV=CUDA JIT=2 "$PY" -c "from tinygrad import Tensor; assert (Tensor([1.0, 2.0]) + 1).tolist() == [2.0, 3.0]" >/dev/null 2>&1
    then say "tinygrad: DEV=CUDA runs"; else say "tinygrad: DEV=CUDA fails (it needs the driver's libcuda and nvrtc: install the CUDA toolkit); tinygrad stays on CPU"; fi
  fi
  # torch
  if "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then say "torch: $("$PY" -c 'import torch; print(torch.__version__)') sees the GPU"
  else say "torch has no CUDA here: pip install torch==$(pin torch) --index-url https://download.pytorch.org/whl/cu${cuda_driver_cuda//./} (or keep a system torch with CUDA: deps/setup.sh uses it)"; fi
}

case "${1:-}" in
  detect) detect ;;
  install) shift; install "$@" ;;
  *) sed -n '2,20p' "$0"; exit 2 ;;
esac
