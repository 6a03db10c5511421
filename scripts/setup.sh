#!/usr/bin/env bash
# Creates .venv once and installs citebot into it; safe to run again (it only tops up).
# torch is installed first and pinned: the CPU build this machine has on disk, not a CUDA one.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
stamp=".venv/.citebot-installed${extras:+-$extras}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "citebot: installing into .venv (first run takes a minute)…" >&2
  python -m pip install -q --upgrade pip 2>&1 | grep -v -i "warning" >&2 || true
  python -m pip install -q "torch==2.13.0"
  python -m pip install -q -e ".${extras:+[$extras]}"
  touch "$stamp"
fi
