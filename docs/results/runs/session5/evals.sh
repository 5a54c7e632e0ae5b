#!/usr/bin/env bash
# Session 5 evaluations, the session-3 protocol unchanged (run from anywhere; each waits for its model and skips what
# is already written):
#   bash docs/results/runs/session5/evals.sh C   # stronger-margin T2L: validation, own descriptions x3; then seen held-out
#   bash docs/results/runs/session5/evals.sh C2  # the same model's 3 controls on validation (a second core's share)
#   bash docs/results/runs/session5/evals.sh D   # multi-task LoRA at 1,200 steps: validation, seen held-out
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
R=docs/results/s5
source docs/results/runs/protocol.sh
mkdir -p $R
if [ "$1" = C ]; then
  wait_for runs/s5/margin2/model/model.safetensors
  run $R/validation-margin2 $VAL --t2l margin2=runs/s5/margin2/model --descriptions train
  run $R/seen-margin2 $SEEN_ARGS --t2l margin2=runs/s5/margin2/model --descriptions train random uninformative
fi
if [ "$1" = C2 ]; then
  wait_for runs/s5/margin2/model/model.safetensors
  run $R/validation-margin2-controls $VAL --t2l margin2=runs/s5/margin2/model --descriptions random unrelated uninformative
fi
if [ "$1" = D ]; then
  wait_for runs/s5/mt_lora/adapter/adapter_model.safetensors
  run $R/validation-mt $VAL --multitask-lora runs/s5/mt_lora/adapter
  run $R/seen-mt $SEEN_ARGS --multitask-lora runs/s5/mt_lora/adapter
fi
echo "EVAL_$1_DONE"
