#!/usr/bin/env bash
# Session 8 evaluations, the session-3 protocol unchanged (docs/results/runs/protocol.sh); each skips what is written:
#   bash docs/results/runs/session8/evals.sh own         # validation own x3 for each soup (decision.md rule 2 first)
#   bash docs/results/runs/session8/evals.sh full soup2  # then, for a soup that passes it: its controls, seen
#                                                        # held-out, and its definition column
#   bash docs/results/runs/session8/evals.sh shipped     # the packed default (bf16) against soup2's fp32 score
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
R=docs/results/s8
source docs/results/runs/protocol.sh
mkdir -p $R
if [ "$1" = own ]; then
  for name in soup2 soup5 soup3; do
    run $R/validation-$name $VAL --t2l $name=runs/s8/$name/model --descriptions train
  done
fi
if [ "$1" = full ]; then
  lane $2 runs/s8/$2/model
  run $R/validation-definition-$2 $VAL --t2l $2=runs/s8/$2/model --descriptions definition
fi
[ "$1" = shipped ] && run $R/validation-shipped $VAL --t2l shipped=peft_t2l/default_model --descriptions train
echo "EVAL_$1_DONE"
