#!/usr/bin/env bash
# Session 6 evaluations, the session-3 protocol unchanged (run from anywhere; each waits for its model and skips what
# is already written):
#   bash docs/results/runs/session6/evals.sh E   # margin3 (stronger margin): validation own x3, its controls, seen
#   bash docs/results/runs/session6/evals.sh G   # nearest (nearest-task negatives): the same three runs
#   bash docs/results/runs/session6/evals.sh F   # margin2_more (same steps, margin2's margin): the same three runs
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
R=docs/results/s6
source docs/results/runs/protocol.sh
mkdir -p $R
[ "$1" = E ] && lane margin3 runs/s5/margin3/model
[ "$1" = G ] && lane nearest runs/s6/nearest/model
[ "$1" = F ] && lane margin2_more runs/s6/margin2_more/model
echo "EVAL_$1_DONE"
