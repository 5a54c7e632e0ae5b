#!/usr/bin/env bash
# Session 4 evaluations, the session-3 protocol unchanged (run from anywhere; each waits for its model and skips what
# is already written):
#   bash docs/results/runs/session4/evals.sh A   # plain continuation: validation (own x3 + 3 controls), seen held-out
#   bash docs/results/runs/session4/evals.sh B   # margin continuation: the same
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
R=docs/results/s4
source docs/results/runs/protocol.sh
mkdir -p $R
if [ "$1" = A ]; then
  wait_for runs/s4/cont_plain/model/model.safetensors
  run $R/validation-cont $VAL --t2l cont=runs/s4/cont_plain/model --descriptions train random unrelated uninformative
  run $R/seen-cont $SEEN_ARGS --t2l cont=runs/s4/cont_plain/model --descriptions train random uninformative
fi
if [ "$1" = B ]; then
  wait_for runs/s4/cont_margin/model/model.safetensors
  run $R/validation-contmargin $VAL --t2l contmargin=runs/s4/cont_margin/model \
    --descriptions train random unrelated uninformative
  run $R/seen-contmargin $SEEN_ARGS --t2l contmargin=runs/s4/cont_margin/model --descriptions train random uninformative
fi
echo "EVAL_$1_DONE"
