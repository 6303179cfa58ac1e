#!/usr/bin/env bash
# llama-cpp-python with CUDA, built from a trimmed copy of its PyPI sdist.
#
# The sdist (77 MB) vendors all of llama.cpp: model vocabularies, docs, tests, tools and a dozen GPU backends the
# CUDA build never compiles. `trim` keeps only what `pip install` with GGML_CUDA=on compiles (llama.cpp's src,
# common, vendor, ggml with its cpu and cuda backends), so it fits where at most 64 MiB may travel. `build` then
# compiles it for one GPU architecture and installs it.
#
#   deps/build_llamacpp_cuda.sh trim  [OUT.tar.gz]           on a connected machine: pip download + trim
#                                  (SDIST=llama_cpp_python-0.3.36.tar.gz uses an sdist already downloaded)
#   deps/build_llamacpp_cuda.sh build TRIMMED.tar.gz [ARCH]  on the GPU machine: build a wheel and pip install it
#                                  (the whole sdist works too: deps/cuda.sh builds that, BUILD_ISOLATION=1 where PyPI answers)
#
# build needs nvcc, cmake, ninja, and scikit-build-core in the Python that runs it (pip install scikit-build-core);
# ARCH is CMAKE_CUDA_ARCHITECTURES (default 90, the H100/H200). About 6 minutes on 16 cores for one architecture.
set -euo pipefail
VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
PY=${PYTHON:-python3}
[[ $PY == */* ]] && PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")  # build cds away; a venv's link must stay a link

trim() {
  local out=${1:-llama_cpp_python-$VERSION-cuda-trimmed.tar.gz} work
  out=$(realpath -m "$out"); work=$(mktemp -d)
  if [ -n "${SDIST:-}" ]; then tar xzf "$SDIST" -C "$work"  # an sdist already at hand
  else "$PY" -m pip download --no-deps --no-binary :all: -d "$work" "llama-cpp-python==$VERSION" >&2
       tar xzf "$work/llama_cpp_python-$VERSION.tar.gz" -C "$work"; fi
  local src=$work/llama_cpp_python-$VERSION lc=$work/llama_cpp_python-$VERSION/vendor/llama.cpp
  # not compiled by the Python package: its examples, docs, tests, docker files
  rm -rf "$src"/{examples,docs,tests,docker,.git}  # .git: the sdist carries the vendored repo's history (38 MB)
  # llama.cpp's vocabularies for tests (75 MB), docs, media, tests, benches, examples, python converters, scripts
  rm -rf "$lc"/{models,docs,media,tests,benches,examples,pocs,gguf-py,conversion,scripts,app,skills,.github,.devops,.git}
  # tools: only mtmd is built by the package (we also turn it off, -DLLAVA_BUILD=OFF, but keep its sources small),
  # and llama-bench (benchmarks/llamacpp_reference.sh), the one tool tools/CMakeLists.txt then adds
  find "$lc/tools" -mindepth 1 -maxdepth 1 ! -name mtmd ! -name llama-bench ! -name CMakeLists.txt -exec rm -rf {} +
  printf 'llama_add_compile_flags()\nadd_subdirectory(llama-bench)\n' > "$lc/tools/CMakeLists.txt"
  # ggml backends other than cpu and cuda (each is only added to the build when its GGML_<NAME> option is on)
  find "$lc/ggml/src" -mindepth 1 -maxdepth 1 -type d -name 'ggml-*' ! -name ggml-cpu ! -name ggml-cuda -exec rm -rf {} +
  tar czf "$out" -C "$work" "llama_cpp_python-$VERSION"
  echo "trimmed: $(du -sh "$work/llama_cpp_python-$VERSION" | cut -f1) unpacked, $(du -h "$out" | cut -f1) as $out" >&2
  rm -rf "$work"
}

build() {
  local tarball=$(realpath "$1") arch=${2:-90} work=$(realpath -m "${BUILD_DIR:-$(mktemp -d)}")
  mkdir -p "$work"; tar xzf "$tarball" -C "$work"
  cd "$work/llama_cpp_python-$VERSION"
  # LLAMA_BUILD_TOOLS: also llama-bench, left in the kept build folder ($work/build/bin), linked to its libllama
  export CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=$arch -DLLAVA_BUILD=OFF -DGGML_NATIVE=ON -DLLAMA_BUILD_TOOLS=ON ${CMAKE_ARGS:-}"
  export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} SKBUILD_BUILD_DIR=$work/build
  # BUILD_ISOLATION=1: pip fetches scikit-build-core and cmake itself (a connected machine, deps/cuda.sh)
  "$PY" -m pip wheel --no-deps $([ "${BUILD_ISOLATION:-0}" = 1 ] || echo --no-build-isolation) -w "$work/wheel" . >&2
  # --force-reinstall: the CPU build of the same version may be installed already
  "$PY" -m pip install --no-deps --no-index --force-reinstall ${PIP_TARGET:+--target "$PIP_TARGET"} "$work"/wheel/llama_cpp_python-*.whl >&2
  ls "$work"/wheel/*.whl; ls "$work"/build/bin/llama-bench 2>/dev/null || true
}

case "${1:-}" in
  trim) shift; trim "$@" ;;
  build) shift; build "$@" ;;
  *) sed -n '2,14p' "$0"; exit 2 ;;
esac
