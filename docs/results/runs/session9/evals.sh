#!/usr/bin/env bash
# Session 9 evaluations, the session-3 protocol unchanged (docs/results/runs/protocol.sh); each skips what is written:
#   bash docs/results/runs/session9/evals.sh own          # waits for lane R's model, builds the soups, then the
#                                                          # validation own x3 of margin3_s46, seeds2, seeds2settle
#                                                          # (`own seeds2 ...`: only those, e.g. one per core)
#   bash docs/results/runs/session9/evals.sh full seeds2  # for a candidate that passes decision.md's condition 2:
#                                                          # its controls, seen held-out and definition column
#   bash docs/results/runs/session9/evals.sh S            # lane S's seed 47, then the three-seed soup, own x3
#                                                          # (`S seeds3`: only that one)
cd "$(dirname "$0")/../../../.."
R=docs/results/s9
source docs/results/runs/protocol.sh  # also: offline, one thread per job, mkdir $R
model() { [ "$1" = margin3_s46 ] && echo runs/s8/margin3_s46/model || echo runs/s9/$1/model; }
if [ "$1" = own ]; then
  shift
  wait_for runs/s8/margin3_s46/model/model.safetensors
  bash docs/results/runs/session9/soups.sh
  for name in ${*:-margin3_s46 seeds2 seeds2settle}; do
    run $R/validation-$name $VAL --t2l $name=$(model $name) --descriptions train
  done
fi
if [ "$1" = full ]; then
  lane $2 $(model $2)
  run $R/validation-definition-$2 $VAL --t2l $2=$(model $2) --descriptions definition
fi
if [ "$1" = S ]; then
  shift
  wait_for runs/s9/margin3_s47/model/model.safetensors
  bash docs/results/runs/session9/soups.sh three
  for name in ${*:-margin3_s47 seeds3}; do
    run $R/validation-$name $VAL --t2l $name=$(model $name) --descriptions train
  done
fi
echo "EVAL_DONE $*"
