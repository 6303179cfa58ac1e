#!/usr/bin/env bash
# The test command (README, and CI through .ci/run): install what is missing, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")"
bash deps/setup.sh
exec .venv/bin/python -m pytest "$@"
