#!/usr/bin/env bash
# MLX's CUDA build and mlx-lm, as wheels for a GPU machine that reaches no network (the lent H100: Python 3.12, x86-64,
# with torch's CUDA 13 libraries, whose nvidia/cu13, nvidia/cudnn and nvidia/nccl folders MLX's CUDA build loads).
#
#   deps/mlx_cuda_wheels.sh [OUT_DIR]    on a connected machine (default OUT_DIR: deps/wheels-mlx, git-ignored)
#
# It writes OUT_DIR/a/ and OUT_DIR/b/, each under 64 MiB so each can travel in one carry:
#   a/  mlx_cuda_13-0.32.4-py3-none-manylinux_2_35_x86_64.whl.part-aa   (the first 58 MiB of the 89.8 MB wheel)
#   b/  ...whl.part-ab (the rest) and the other wheels: mlx 0.32.4 (cp312), mlx-lm 0.32.2 and what mlx-lm imports
#       (transformers 5.23.0, tokenizers, safetensors, huggingface_hub, regex, sentencepiece, protobuf, ... as
#       deps/requirements.txt pins them, for cp312). Not numpy: the GPU machine's own is used.
# mlx-cuda-13's declared CUDA dependencies (nvidia-cublas, -cudnn-cu13, -nccl-cu13, ...) are not downloaded: torch's
# copies on the GPU machine are used through LD_LIBRARY_PATH (docs/results/run_gpu.sh, MLX_WHEELS).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-deps/wheels-mlx}"); PY=${PYTHON:-.venv/bin/python}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
plat=(--only-binary=:all: --python-version 3.12 --platform manylinux_2_35_x86_64 --platform manylinux_2_28_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$work")
"$PY" -m pip download -q "${plat[@]}" --no-deps mlx==0.32.4 mlx-cuda-13==0.32.4
"$PY" -m pip download -q "${plat[@]}" mlx-lm==0.32.2 -c deps/requirements.txt
rm -f "$work"/numpy-*.whl
mkdir -p "$OUT/a" "$OUT/b"
cuda=$(basename "$work"/mlx_cuda_13-*.whl)
split -b 58M -a 2 "$work/$cuda" "$OUT/a/$cuda.part-"
mv "$OUT/a/$cuda.part-ab" "$OUT/b/"
mv "$work"/*.whl "$OUT/b/" 2>/dev/null || true
rm -f "$OUT/b/$cuda"
du -sh "$OUT/a" "$OUT/b"
