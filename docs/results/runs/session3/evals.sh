#!/usr/bin/env bash
# Session 3 evaluations (run from anywhere; each waits for its model, skips what is already written).
#   bash docs/results/runs/session3/evals.sh A   # the margin T2L: validation (own x3 + 3 controls), seen held-out
#   bash docs/results/runs/session3/evals.sh B   # the plain T2L, the multi-task LoRA and the base model
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
R=docs/results/s3
source docs/results/runs/protocol.sh
mkdir -p $R
if [ "$1" = A ]; then
  wait_for runs/s3/sft_margin/model/model.safetensors
  run $R/validation-margin $VAL --t2l margin=runs/s3/sft_margin/model \
    --descriptions train random unrelated uninformative
  # the margin model did worse on validation than the plain one, so the seen-task run went to the shipped (plain) model
  run $R/seen-plain $SEEN_ARGS --t2l plain=runs/s3/sft_plain/model --descriptions train random uninformative
fi
if [ "$1" = C ]; then  # if time allows: the session-2 default (91 tasks, offset, no margin) under the same protocol
  #   cp -r peft_t2l/default_model runs/s3/old_default   (at commit 596d699, before the new default replaced it)
  run $R/validation-old $VAL --t2l s2default=runs/s3/old_default --descriptions train random unrelated uninformative
fi
if [ "$1" = B ]; then
  wait_for runs/s3/sft_plain/model/model.safetensors
  run $R/validation-plain $VAL --t2l plain=runs/s3/sft_plain/model --descriptions train random unrelated uninformative
  wait_for runs/s3/mt_lora/adapter/adapter_model.safetensors
  run $R/validation-base $VAL --base --multitask-lora runs/s3/mt_lora/adapter
  run $R/seen-mt $SEEN_ARGS --multitask-lora runs/s3/mt_lora/adapter
fi
echo "EVAL_$1_DONE"
