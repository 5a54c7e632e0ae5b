#!/usr/bin/env bash
# Session 5: push the one thing that moved unseen numbers in session 4 (a mismatch margin from a trained start).
#   bash docs/results/runs/session5/lanes.sh C   # the shipped default (session 4's contmargin) + 600 steps with a
#                                                # stronger margin: half the rows get a mismatched twin, weight 0.5
#   bash docs/results/runs/session5/lanes.sh E   # next step, started at the end of session 5 (resume it): margin2 +
#                                                # 600 steps with a stronger margin still (3/4 of rows, weight 1)
#   bash docs/results/runs/session5/lanes.sh D   # the session-3 multi-task LoRA (450 steps) + 750 steps, re-warmed
#                                                # like the T2L was, so the baseline has the T2L's 1,200 steps
# Same recipe as sessions 3-4 otherwise (bf16 autocast, one thread per lane, 8 tasks x 1 example, per-example loss,
# last 8 instances per task held out). Each lane resumes from its latest checkpoint when re-run after a stop.
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
set -e
mkdir -p runs/s5
COMMON="seed=44 warmup_steps=40 learning_rate=2e-4 tasks_per_batch=8 examples_per_task=1
  num_holdout_instances=8 mixed_precision=bf16 save_every=25 log_every=5 progress=false"
resume() { [ -d "$1/checkpoints" ] && echo "resume=true" || true; }
if [ "$1" = C ]; then
  out=runs/s5/margin2
  [ -f "$out/model/model.safetensors" ] || .venv/bin/t2l train sft --config configs/sft_smollm2_sni.yaml \
    output_dir="$out" $COMMON init_from=${INIT:-runs/s4/cont_margin/model} max_steps=600 loss_per_example=true \
    l2_reg_generated_w=0 mismatch_fraction=0.5 mismatch_weight=0.5 mismatch_margin=1.0 $(resume "$out") >> "$out.log" 2>&1
fi
if [ "$1" = E ]; then
  out=runs/s5/margin3
  [ -f "$out/model/model.safetensors" ] || .venv/bin/t2l train sft --config configs/sft_smollm2_sni.yaml \
    output_dir="$out" $COMMON seed=45 init_from=${INIT:-runs/s5/margin2/model} max_steps=600 loss_per_example=true \
    l2_reg_generated_w=0 mismatch_fraction=0.75 mismatch_weight=1.0 mismatch_margin=1.0 $(resume "$out") >> "$out.log" 2>&1
fi
if [ "$1" = D ]; then
  out=runs/s5/mt_lora
  [ -f "$out/adapter/adapter_model.safetensors" ] || .venv/bin/t2l train lora --config configs/lora_multitask_smollm2_sni.yaml \
    output_dir="$out" $COMMON init_from=${INIT:-runs/s3/mt_lora/adapter} max_steps=750 loss_per_example=true $(resume "$out") >> "$out.log" 2>&1
fi
echo "LANE_$1_DONE"
