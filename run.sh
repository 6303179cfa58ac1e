#!/usr/bin/env bash
# The main job on the embedded SmolLM2-135M model: install what is missing, benchmark llama.cpp and tinygrad on
# the same GGUF files (nf4, int8, float16; 32 decode steps, 3 runs: tinygrad decodes at about 1-2 tok/s on 2 CPU
# cores), collate the raw logs into CSVs, then the statistics, the eight plots and presentation.pdf.
# Extra arguments go to both benchmark scripts, e.g. ./run.sh --n-tokens 32 --runs 2
set -euo pipefail
cd "$(dirname "$0")"
bash deps/setup.sh
py=.venv/bin/python
for backend in llamacpp tinygrad; do
  echo "== benchmarking $backend"
  $py ${backend}_benchmark.py --size 135M --quantize nf4 int8 float16 --seed 42 --n-tokens 32 --runs 3 "$@" || echo "(some $backend configurations failed: see their logs)"
  $py ${backend}_collate.py
done
echo "== statistics, plots and the deck"
$py benchmark_analysis.py
$py generate_plots.py
$py generate_additional_plots.py
$py build_presentation.py
