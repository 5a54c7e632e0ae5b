#!/usr/bin/env bash
# Session 6: is it the margin's strength or just more steps? Lane E of session 5 (margin2 + 600 steps, 3/4 of rows
# mismatched at weight 1) resumes with `bash docs/results/runs/session5/lanes.sh E`; lane F here is its control:
#   bash docs/results/runs/session6/lanes.sh G   # margin2 + 600 steps with margin2's margin (1/2 of rows, weight 0.5)
#                                                # but each mismatched description drawn from one of the row's task's
#                                                # 10 nearest training tasks (mismatch_negatives=nearest), not the batch
#   bash docs/results/runs/session6/lanes.sh F   # margin2 + 600 steps with margin2's own recipe, same seed as lane E,
#                                                # so the two differ only in the margin (started, stopped at step 75 to
#                                                # give its core to lane G; resume it to separate steps from margin)
# Same recipe as sessions 3-5 otherwise (bf16 autocast, one thread per lane, 8 tasks x 1 example, per-example loss,
# last 8 instances per task held out). Each lane resumes from its latest checkpoint when re-run after a stop.
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
set -e
mkdir -p runs/s6
COMMON="seed=45 warmup_steps=40 learning_rate=2e-4 tasks_per_batch=8 examples_per_task=1
  num_holdout_instances=8 mixed_precision=bf16 save_every=25 log_every=5 progress=false"
resume() { [ -d "$1/checkpoints" ] && echo "resume=true" || true; }
if [ "$1" = F ]; then
  out=runs/s6/margin2_more
  [ -f "$out/model/model.safetensors" ] || .venv/bin/t2l train sft --config configs/sft_smollm2_sni.yaml \
    output_dir="$out" $COMMON init_from=${INIT:-runs/s5/margin2/model} max_steps=600 loss_per_example=true \
    l2_reg_generated_w=0 mismatch_fraction=0.5 mismatch_weight=0.5 mismatch_margin=1.0 $(resume "$out") >> "$out.log" 2>&1
fi
if [ "$1" = G ]; then
  out=runs/s6/nearest
  [ -f "$out/model/model.safetensors" ] || .venv/bin/t2l train sft --config configs/sft_smollm2_sni.yaml \
    output_dir="$out" $COMMON init_from=${INIT:-runs/s5/margin2/model} max_steps=600 loss_per_example=true \
    l2_reg_generated_w=0 mismatch_fraction=0.5 mismatch_weight=0.5 mismatch_margin=1.0 mismatch_negatives=nearest \
    mismatch_nearest_k=10 $(resume "$out") >> "$out.log" 2>&1
fi
echo "LANE_$1_DONE"
