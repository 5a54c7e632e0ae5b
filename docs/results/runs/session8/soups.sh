#!/usr/bin/env bash
# Session 8: weight averages of the shipped default margin3 and its session-7 continuations (decision.md says why).
# Seconds each, no training; skips a soup that exists.
#   bash docs/results/runs/session8/soups.sh
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1
set -e
soup() {  # soup <name> <model folders...>: equal weights
  local out=runs/s8/$1/model; shift
  [ -f "$out/model.safetensors" ] || .venv/bin/t2l train average "$@" --out "$out"
}
soup soup2 runs/s5/margin3/model runs/s7/settle/model
soup soup5 runs/s5/margin3/model runs/s7/{settle,plain,defs,more}/model
# second round (decision.md): margin3 weighted 3 to 1
[ -f runs/s8/soup3/model/model.safetensors ] || .venv/bin/t2l train average runs/s5/margin3/model runs/s7/settle/model \
  --weights 0.75 0.25 --out runs/s8/soup3/model
