#!/usr/bin/env bash
# Session 8: a replicate of the shipped default's last round, to measure how far one recipe's unseen score moves with
# the seed alone (session 7 saw margin3's own recipe, continued, land 4 points lower), and to give margin3 a sibling
# from the same start for a soup of two seeds (the model-soup setting: fine-tunes of one start):
#   bash docs/results/runs/session8/lanes.sh R   # margin2 + 600 steps with margin3's recipe (3/4 of the rows
#                                                # mismatched, weight 1), seed 46 instead of 45; ~105 min with a
#                                                # second job on the other core; resumes from its checkpoints
# The fields are session 5's lane E (docs/results/runs/session5/lanes.sh), only the seed and output differ.
# SEED and OUT override them (session 9's third seed: docs/results/runs/session9/lanes.sh).
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
set -e
resume() { [ -d "$1/checkpoints" ] && echo "resume=true" || true; }
if [ "$1" = R ]; then
  out=${OUT:-runs/s8/margin3_s46}
  mkdir -p "$(dirname "$out")"
  [ -f "$out/model/model.safetensors" ] || .venv/bin/t2l train sft --config configs/sft_smollm2_sni.yaml \
    output_dir="$out" seed=${SEED:-46} warmup_steps=40 learning_rate=2e-4 tasks_per_batch=8 examples_per_task=1 \
    num_holdout_instances=8 mixed_precision=bf16 save_every=25 log_every=5 progress=false \
    init_from=${INIT:-runs/s5/margin2/model} max_steps=600 loss_per_example=true l2_reg_generated_w=0 \
    mismatch_fraction=0.75 mismatch_weight=1.0 mismatch_margin=1.0 $(resume "$out") >> "$out.log" 2>&1
fi
echo "LANE_$1_DONE"
