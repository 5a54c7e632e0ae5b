#!/usr/bin/env bash
# Session 9: two-seed weight averages (decision.md says why). Seconds each, no training; skips a soup that exists.
#   bash docs/results/runs/session9/soups.sh        # seeds2, seeds2settle (needs lane R's runs/s8/margin3_s46)
#   bash docs/results/runs/session9/soups.sh three  # seeds3 as well (needs lane S's runs/s9/margin3_s47)
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1
set -e
soup() {  # soup <name> <model folders...> [--weights ...]: equal weights unless given
  local out=runs/s9/$1/model; shift
  [ -f "$out/model.safetensors" ] || .venv/bin/t2l train average "$@" --out "$out"
}
M3=runs/s5/margin3/model S46=runs/s8/margin3_s46/model S47=runs/s9/margin3_s47/model
soup seeds2 $M3 $S46
soup seeds2settle $M3 $S46 runs/s7/settle/model --weights 0.25 0.25 0.5
[ "$1" = three ] && soup seeds3 $M3 $S46 $S47
true
