#!/usr/bin/env bash
# Issue 14's out-of-sample test of the latency models, as one command: llama.cpp on this CPU decodes the synthetic
# 135M, 360M, 1B, 1.7B and 3B shapes in Q4_K_M and Q8_0 (experiments/predict.yaml: 16 steps, 3 runs; it resumes, so
# a rerun only runs what is missing), then fit_models.py fits on 135M, 360M and 1B and predicts 1.7B and 3B, and the
# small result set (raw logs, summary, runs, models.json, model_fit.csv and its plot) is kept in docs/results/predict/.
#   benchmarks/predict_holdout.sh        (PYTHON=... to use another interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=benchmark_output/predict
D=docs/results/predict
$PY run_experiment.py experiments/predict.yaml
$PY fit_models.py -d $OUT --holdout 1.7B 3B --plot $OUT/model_fit.png
mkdir -p $D
cp $OUT/llamacpp_*.txt $OUT/session_*.json $OUT/summary.csv $OUT/runs.csv $OUT/models.json $OUT/model_fit.csv $OUT/model_fit.png $D/
gzip -n -9 -c $OUT/llamacpp.csv > $D/llamacpp.csv.gz
