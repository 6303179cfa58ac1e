#!/usr/bin/env bash
# Installs what inferbench needs, idempotently: Debian packages, a virtualenv in .venv, pinned Python packages.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v clang >/dev/null || need+=(clang)              # tinygrad's CPU backend compiles its kernels with clang
command -v pdftoppm >/dev/null || need+=(poppler-utils)   # renders and inspects the deck in tests
if ((${#need[@]})); then
  echo "== installing Debian packages: ${need[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python - <<'PY' 2>/dev/null
import importlib.metadata as md, pathlib, sys
pins = [l.split("==") for f in ("deps/requirements.txt", "deps/requirements-nodeps.txt")
        for l in pathlib.Path(f).read_text().splitlines() if "==" in l and not l.startswith("#")]
norm = lambda s: s.lower().replace("_", "-").split("+")[0]  # torch 2.13.0+cpu is the pin 2.13.0
sys.exit(any(norm(md.version(n)) != norm(v) for n, v in pins))
PY
then
  echo "== installing pinned Python packages (llama-cpp-python compiles from source the first time: ~11 min on 2 cores)"
  export CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)"
  .venv/bin/pip install -q --disable-pip-version-check -r deps/requirements.txt
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -r deps/requirements-nodeps.txt
fi
# the package itself, editable: the `inferbench` command, and the flat scripts import it from this checkout
if [ ! -x .venv/bin/inferbench ] || ! .venv/bin/python -I -c "import inferbench, sys; sys.exit(inferbench.__path__[0] != '$PWD/inferbench')" 2>/dev/null; then
  echo "== installing inferbench (editable) into .venv"
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
fi
