#!/usr/bin/env bash
# The test command: set up with the development extras, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
export HF_HUB_OFFLINE=1
.venv/bin/python -m pytest -q "$@"
