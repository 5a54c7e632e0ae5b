#!/usr/bin/env bash
# Session 9: a third seed of margin3's last round (margin2 + 600 steps with margin3's recipe), beside session 8's
# seed 46, so the seed spread rests on three runs and a soup can take three seeds of one start:
#   bash docs/results/runs/session9/lanes.sh S   # seed 47, output runs/s9/margin3_s47; ~105 min on a free core;
#                                                # resumes from its checkpoints (every 25 steps) when re-run
# The run is session 8's lane R (docs/results/runs/session8/lanes.sh) with only the seed and the output changed.
cd "$(dirname "$0")/../../../.."
[ "$1" = S ] && SEED=47 OUT=runs/s9/margin3_s47 bash docs/results/runs/session8/lanes.sh R
echo "LANE_$1_DONE"
