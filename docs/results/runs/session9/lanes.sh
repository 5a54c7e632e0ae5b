#!/usr/bin/env bash
# Session 9: a third seed of the last round of margin3 (margin2 + 600 steps with margin3's recipe), beside session 8's
# seed 46 (docs/results/runs/session8/lanes.sh R), so the seed spread rests on three runs and a soup can take three
# seeds of one start:
#   bash docs/results/runs/session9/lanes.sh S   # seed 47, output runs/s9/margin3_s47; ~105 min on a free core;
#                                                # resumes from its checkpoints (every 25 steps) when re-run
# The fields are session 5's lane E (docs/results/runs/session5/lanes.sh); only the seed and the output differ.
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
set -e
mkdir -p runs/s9
resume() { [ -d "$1/checkpoints" ] && echo "resume=true" || true; }
if [ "$1" = S ]; then
  out=runs/s9/margin3_s47
  [ -f "$out/model/model.safetensors" ] || .venv/bin/t2l train sft --config configs/sft_smollm2_sni.yaml \
    output_dir="$out" seed=47 warmup_steps=40 learning_rate=2e-4 tasks_per_batch=8 examples_per_task=1 \
    num_holdout_instances=8 mixed_precision=bf16 save_every=25 log_every=5 progress=false \
    init_from=${INIT:-runs/s5/margin2/model} max_steps=600 loss_per_example=true l2_reg_generated_w=0 \
    mismatch_fraction=0.75 mismatch_weight=1.0 mismatch_margin=1.0 $(resume "$out") >> "$out.log" 2>&1
fi
echo "LANE_$1_DONE"
