#!/usr/bin/env bash
# Lane E (after lane C): the shipped 300-step SFT model (session 1) on validation with 3 descriptions, for the
# training-length comparison.
cd /work/main
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
while [ ! -f docs/results/s2/validation-a/results.json ]; do sleep 20; done
[ -f docs/results/s2/validation-c/results.json ] || .venv/bin/t2l eval --tasks ../shared/data/sni/validation \
  --max-new-tokens 64 --batch-size 8 --num-descriptions 3 --t2l t2l-sft300=runs/sft_offset/model \
  --descriptions train random --out docs/results/s2/validation-c > runs/s2/eval_val_c.log 2>&1
echo LANE_E_DONE
