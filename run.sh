#!/usr/bin/env bash
# The main job on the embedded SmolLM2-135M model: install what is missing, benchmark llama.cpp, tinygrad, MLX and
# PyTorch on the same GGUF files (nf4, int8, float16; 32 decode steps), collate the raw logs into CSVs, then the
# statistics, the eight plots, the physical models, the recommender's pick verified by measuring it again, and
# presentation.pdf (its answer from the recommender).
# Runs: at least 3, then more until the decode interval is within +-5% of its median (--target-ci 5), at most 20 runs
# or 10 measured seconds: llama.cpp (~0.3 s a run) may take up to 20; tinygrad, MLX and PyTorch (several seconds a run
# on 2 CPU cores) spend the 10 s within their 3 runs, as before. A configuration still wider is flagged imprecise.
# MLX runs int8, float16 and its own 4-bit (mlx-q4) instead of nf4: it has no Q4_K kernels and would only run nf4
# dequantized to F16, the float16 row again. PyTorch, likewise, dequantizes every GGUF type to float: it runs float16
# and torchao's own int8, each eager and compiled (--torch-mode: the mode is its biggest knob).
# On a machine with an NVIDIA GPU (nvidia-smi lists one), deps/setup.sh builds llama-cpp-python with CUDA first
# (deps/cuda.sh), the loop below is the CPU beside it, and the GPU set follows: the synthetic Llama-3.2-1B shape and
# the 135M, F16 and Q4_K_M, on llama.cpp, PyTorch and tinygrad (docs/results/run_h200.sh's steps), each run's energy
# read from NVML.
# Extra arguments go to every CPU benchmark script, e.g. ./run.sh --n-tokens 32 --runs 2
set -euo pipefail
cd "$(dirname "$0")"
bash deps/setup.sh
py=.venv/bin/python
for backend in llamacpp tinygrad mlx torch; do
  echo "== benchmarking $backend"
  quants="nf4 int8 float16"; extra=()
  [ $backend = mlx ] && quants="int8 float16 mlx-q4"
  [ $backend = torch ] && quants="float16 torchao-int8" && extra=(--torch-mode eager compile)
  $py ${backend}_benchmark.py --device cpu --size 135M --quantize $quants "${extra[@]}" --seed 42 --n-tokens 32 --runs 3 \
    --target-ci 5 --max-runs 20 --max-seconds 10 "$@" || echo "(some $backend configurations failed: see their logs)"
  $py ${backend}_collate.py
done
if $py -c "import sys; from inferbench.core import metadata; sys.exit(not metadata.cuda_available())"; then
  echo "== the GPU set on $(nvidia-smi -L | head -1)"
  PYTHON=$py SIZES=1B STEPS="models llamacpp torch tinygrad" bash docs/results/run_h200.sh benchmark_output || echo "(some GPU configurations failed: see their logs)"
fi
echo "== statistics, plots and the deck"
$py benchmark_analysis.py
$py generate_plots.py
$py generate_additional_plots.py
$py fit_models.py || echo "(no physical models: see above)"  # the deck's roofline and predictions slides
# The pick against its backend's other quantizations, 3 interleaved rounds: 9 llama.cpp workers (the pick here), about
# 10 s each on 2 quiet cores, so 1.5-3 minutes. --against backends would run tinygrad, MLX and PyTorch workers of
# 10-60 s each per round (over 5 minutes at 3 rounds); --rounds 3 is the fewest that give an interval.
$py recommend.py --verify --against quantizations --rounds 3 || echo "(the pick did not hold or was not verified: see above)"
$py build_presentation.py
