#!/usr/bin/env bash
# Session 7 evaluations, the session-3 protocol unchanged (run from anywhere; each waits for its model and skips what
# is already written):
#   bash docs/results/runs/session7/evals.sh H   # settle (margin3 + 400 steps, weak margin): validation own x3,
#                                                # its controls, seen
#   bash docs/results/runs/session7/evals.sh I   # plain (margin3 + 400 steps, no margin): the same three runs
#   bash docs/results/runs/session7/evals.sh J   # defs (margin3's recipe + 250 steps, 1/4 definitions): the three
#                                                # runs, then its definition column
#   bash docs/results/runs/session7/evals.sh K   # more (the same 250 steps without definitions): the same
#   bash docs/results/runs/session7/evals.sh M   # the multi-task LoRA at 2,400 steps: validation, seen
#   bash docs/results/runs/session7/evals.sh D   # every task's SNI definition as the description (as a user who
#                                                # pastes the task's instructions would), for base + description,
#                                                # margin3 and then each lane that has a model, beside the controls
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
R=docs/results/s7
source docs/results/runs/protocol.sh
mkdir -p $R
[ "$1" = H ] && lane settle runs/s7/settle/model
[ "$1" = I ] && lane plain runs/s7/plain/model
if [ "$1" = J ] || [ "$1" = K ]; then
  name=$([ "$1" = J ] && echo defs || echo more)
  lane $name runs/s7/$name/model
  run $R/validation-definition-$name $VAL --t2l $name=runs/s7/$name/model --descriptions definition
fi
if [ "$1" = M ]; then
  wait_for runs/s7/mt_lora_2400/adapter/adapter_model.safetensors
  run $R/validation-mt2400 $VAL --multitask-lora runs/s7/mt_lora_2400/adapter
  run $R/seen-mt2400 $SEEN_ARGS --multitask-lora runs/s7/mt_lora_2400/adapter
fi
if [ "$1" = D ]; then
  run $R/validation-definition-base $VAL --base-with-description --descriptions definition
  run $R/validation-definition-margin3 $VAL --t2l margin3=runs/s5/margin3/model --descriptions definition
  for name in settle plain; do
    wait_for runs/s7/$name/model/model.safetensors
    run $R/validation-definition-$name $VAL --t2l $name=runs/s7/$name/model --descriptions definition
  done
fi
echo "EVAL_$1_DONE"
