#!/usr/bin/env bash
# Session 3 runs on all 452 training tasks (../shared/data/sni/train), bf16 autocast, one thread per lane, 450 steps,
# 8 tasks x 1 example per batch, per-example loss, no multi-task offset, last 8 instances per task held out.
#   bash docs/results/runs/session3/lanes.sh A   # T2L SFT + mismatch margin (half the rows also get another task's adapter)
#   bash docs/results/runs/session3/lanes.sh B   # T2L SFT without the margin (ablation), then the multi-task LoRA baseline
# Each step resumes from its latest checkpoint when re-run after a stop.
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
set -e
mkdir -p runs/s3
COMMON="max_steps=450 warmup_steps=45 learning_rate=3e-4 tasks_per_batch=8 examples_per_task=1 loss_per_example=true
  num_holdout_instances=8 mixed_precision=bf16 save_every=25 log_every=5 progress=false"
resume() { [ -d "$1/checkpoints" ] && echo "resume=true" || true; }
sft() {  # sft <name> <extra overrides...>
  local out=runs/s3/$1; shift
  [ -f "$out/model/model.safetensors" ] && return 0
  .venv/bin/t2l train sft --config configs/sft_smollm2_sni.yaml output_dir="$out" $COMMON l2_reg_generated_w=0 "$@" \
    $(resume "$out") >> "$out.log" 2>&1
}
if [ "$1" = A ]; then
  sft sft_margin mismatch_fraction=0.5 mismatch_weight=1.0 mismatch_margin=1.0
fi
if [ "$1" = B ]; then
  sft sft_plain
  out=runs/s3/mt_lora
  [ -f "$out/adapter/adapter_model.safetensors" ] || .venv/bin/t2l train lora \
    --config configs/lora_multitask_smollm2_sni.yaml output_dir="$out" $COMMON $(resume "$out") >> "$out.log" 2>&1
fi
echo "LANE_$1_DONE"
