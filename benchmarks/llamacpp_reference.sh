#!/usr/bin/env bash
# The harness's llama.cpp decode speed beside llama.cpp's own llama-bench on the same GGUF file (issue 16, item 9):
# alternating rounds of `llamacpp_benchmark.py --n-tokens 128 --prompt-tokens 37` and `llama-bench -n 128 -d 37`
# (128 decode steps after a 37-token context, the harness's default prompt), then each side's median and the ratio.
# Run from the repository root:
#
#   benchmarks/llamacpp_reference.sh MODEL.gguf [ROUNDS]        (ROUNDS: default 3)
#
# Environment: DEVICE=cpu|cuda (default cpu; cuda offloads every layer), FLASH_ATTN=on|off (default on), THREADS
# (default: every core), RUNS (measured runs per round on each side, default 3), OUT (logs; default a temporary
# folder). LLAMA_BENCH=path uses a llama-bench already built (deps/build_llamacpp_cuda.sh build leaves one in its
# build folder, linked to the very libllama it installs); without it llama-bench is built once from the pinned
# llama-cpp-python sources (TARBALL=the output of `deps/build_llamacpp_cuda.sh trim`, else trimmed here from PyPI's
# sdist) into BUILD_DIR (default ~/.cache/inferbench/llama-bench-$DEVICE), with CUDA for DEVICE=cuda (ARCH, default
# 90). The CPU build takes a few minutes on 2 cores.
set -euo pipefail
MODEL=$(realpath "${1:?usage: $0 MODEL.gguf [ROUNDS]}"); ROUNDS=${2:-3}
DEVICE=${DEVICE:-cpu}; FA=${FLASH_ATTN:-on}; RUNS=${RUNS:-3}; PY=${PYTHON:-python3}
THREADS=${THREADS:-$(nproc)}; N=128; DEPTH=37
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${OUT:-$(mktemp -d)}"); mkdir -p "$OUT"

if [ -z "${LLAMA_BENCH:-}" ]; then
  BUILD_DIR=$(realpath -m "${BUILD_DIR:-$HOME/.cache/inferbench/llama-bench-$DEVICE}")
  LLAMA_BENCH=$BUILD_DIR/build/bin/llama-bench
  if [ ! -x "$LLAMA_BENCH" ]; then
    mkdir -p "$BUILD_DIR"
    tarball=${TARBALL:-$BUILD_DIR/llama_trimmed.tar.gz}
    [ -e "$tarball" ] || "$ROOT/deps/build_llamacpp_cuda.sh" trim "$tarball"
    tar xzf "$tarball" -C "$BUILD_DIR"
    cuda=$([ "$DEVICE" = cuda ] && echo "-DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=${ARCH:-90}" || echo "-DGGML_CUDA=OFF")
    echo "building llama-bench ($DEVICE) in $BUILD_DIR" >&2
    cmake -S "$BUILD_DIR"/llama_cpp_python-*/vendor/llama.cpp -B "$BUILD_DIR/build" -DCMAKE_BUILD_TYPE=Release $cuda \
      -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
      -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF > "$BUILD_DIR/build.log" 2>&1
    cmake --build "$BUILD_DIR/build" --target llama-bench -j "$(nproc)" >> "$BUILD_DIR/build.log" 2>&1
  fi
fi

ngl=$([ "$DEVICE" = cuda ] && echo 99 || echo 0); fa=$([ "$FA" = on ] && echo 1 || echo 0)
echo "model: $MODEL"; echo "device: $DEVICE  flash attention: $FA  threads: $THREADS  rounds: $ROUNDS x $RUNS runs each side"
echo "llama-bench: $LLAMA_BENCH ($("$LLAMA_BENCH" --version 2>&1 | grep -m1 version || true))"
echo "harness:     $PY llamacpp_benchmark.py --model $MODEL --device $DEVICE --flash-attn $FA --threads $THREADS --n-tokens $N --prompt-tokens $DEPTH --runs $RUNS --warmup 1 --min-seconds 0"
echo "reference:   llama-bench -m $MODEL -n $N -d $DEPTH -p 0 -ngl $ngl -fa $fa -t $THREADS -r $RUNS -o csv"
harness=() reference=()
for r in $(seq 1 "$ROUNDS"); do
  (cd "$ROOT" && "$PY" llamacpp_benchmark.py --model "$MODEL" --device "$DEVICE" --flash-attn "$FA" --threads "$THREADS" \
     --n-tokens "$N" --prompt-tokens "$DEPTH" --runs "$RUNS" --warmup 1 --min-seconds 0 -o "$OUT/logs") > "$OUT/harness-$r.txt" 2>&1
  h=$(awk '$1 == "llama.cpp" && $2 == "decode" {print $4}' "$OUT/harness-$r.txt")
  "$LLAMA_BENCH" -m "$MODEL" -n "$N" -d "$DEPTH" -p 0 -ngl "$ngl" -fa "$fa" -t "$THREADS" -r "$RUNS" -o csv \
    > "$OUT/llama-bench-$r.csv" 2> "$OUT/llama-bench-$r.log"
  l=$("$PY" -c 'import csv, sys; print(next(csv.DictReader(open(sys.argv[1])))["avg_ts"])' "$OUT/llama-bench-$r.csv")
  [ -n "$h" ] || { echo "round $r: no decode tok/s in the harness's output ($OUT/harness-$r.txt):" >&2; tail -5 "$OUT/harness-$r.txt" >&2; exit 1; }
  "$PY" -c 'import sys; r, h, l = sys.argv[1:]; print(f"round {r}: harness {float(h):8.1f} tok/s   llama-bench {float(l):8.1f} tok/s   ratio {float(h) / float(l):.3f}")' "$r" "$h" "$l"
  harness+=("$h"); reference+=("$l")
done
"$PY" - "${harness[*]}" "${reference[*]}" <<'EOF'
import statistics, sys
h, l = (statistics.median(map(float, s.split())) for s in sys.argv[1:3])
print(f"median: harness {h:.1f} tok/s, llama-bench {l:.1f} tok/s: harness / llama-bench = {h / l:.3f}")
EOF
echo "logs: $OUT"
