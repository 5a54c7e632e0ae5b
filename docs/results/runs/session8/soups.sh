#!/usr/bin/env bash
# Session 8: weight averages of the shipped default margin3 and its session-7 continuations (decision.md says why).
# Seconds each, no training; skips a soup that exists.
#   bash docs/results/runs/session8/soups.sh
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1
set -e
soup() {  # soup <name> <model folders...> [--weights ...]: equal weights unless given
  local out=runs/s8/$1/model; shift
  [ -f "$out/model.safetensors" ] || .venv/bin/t2l train average "$@" --out "$out"
}
soup soup2 runs/s5/margin3/model runs/s7/settle/model
soup soup5 runs/s5/margin3/model runs/s7/{settle,plain,defs,more}/model
soup soup3 runs/s5/margin3/model runs/s7/settle/model --weights 0.75 0.25  # second round (decision.md)
