#!/usr/bin/env bash
# Rebuild everything in docs/results/ that is derived from its raw logs: each device's CSVs (gzipped), then, over
# the H200 and the CPU sets together, summary.csv, runs.csv, ratios.csv, the plots, the latency models and
# presentation.pdf; h200/'s own summary; and the history sets on their own (h100/, h100-mlx/). Deterministic: the same
# logs give the same CSVs and PNGs. Run from anywhere:  docs/results/rebuild.sh   (PYTHON=... to use another interpreter)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
R=docs/results
ALL=$(mktemp -d); trap 'rm -rf "$ALL"' EXIT
BACKENDS="llamacpp tinygrad mlx torch"
logs() {  # logs DEV DIR: a set's raw logs into DIR (h200/ keeps them in raw_logs.tar.gz: the tree a GPU machine gets stays small)
  if [ -e $R/$1/raw_logs.tar.gz ]; then tar xzf $R/$1/raw_logs.tar.gz -C "$2"; else cp $R/$1/*_uuid*.txt "$2/"; fi
}
collate_set() {  # collate_set DEV: its gzipped CSVs, and its own summary.csv, runs.csv, ratios.csv in $R/DEV
  local one=$ALL/$1; mkdir -p "$one"; logs $1 "$one"
  for b in $BACKENDS; do
    compgen -G "$one/${b}_*.txt" > /dev/null || continue  # a backend without logs on this device
    $PY ${b}_collate.py -d "$one"; gzip -n -9 -c "$one/$b.csv" > $R/$1/$b.csv.gz
  done
}
for dev in h200 cpu; do collate_set $dev; logs $dev "$ALL"; done
$PY benchmark_analysis.py -d "$ALL/h200" -o $R/h200  # the H200 set alone: the README's GPU table and gpu.md's
for b in $BACKENDS; do compgen -G "$ALL/${b}_*.txt" > /dev/null && $PY ${b}_collate.py -d "$ALL"; done
$PY benchmark_analysis.py -d "$ALL" -o $R  # summary.csv, runs.csv and ratios.csv
cp $R/summary.csv $R/runs.csv $R/ratios.csv "$ALL/"
$PY generate_plots.py -d "$ALL" -o $R/plots
$PY generate_additional_plots.py -d "$ALL" -o $R/plots
# the latency models (models.json, model_fit.csv beside the summary) and, for the deck's answer, the 135M's quality:
# the CPU sweep's (predict/sweep_cpu), joined by file sha256 (the same file has the same quality on any device)
$PY fit_models.py -d "$ALL" --plot $R/plots/model_fit.png
cp "$ALL/models.json" "$ALL/model_fit.csv" $R/
cp $R/predict/sweep_cpu/sweep_135M.csv "$ALL/"
$PY build_presentation.py -d "$ALL" --plots $R/plots --docs "$ALL/docs" -o $R --contact-sheet docs/images/contact/results.png
# history: h100/ (2026-11, the lent H100 before the H200) on its own
collate_set h100; $PY benchmark_analysis.py -d "$ALL/h100" -o $R/h100
# h100-mlx/: MLX beside llama.cpp in one lease (2026-11-23), a set of its own: not pooled with h100/'s earlier leases
M=$ALL/h100-mlx; mkdir -p "$M"; cp $R/h100-mlx/*_uuid*.txt "$M/"
for b in llamacpp mlx; do $PY ${b}_collate.py -d "$M"; gzip -n -9 -c "$M/$b.csv" > $R/h100-mlx/$b.csv.gz; done
$PY benchmark_analysis.py -d "$M" -o $R/h100-mlx
