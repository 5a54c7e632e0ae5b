#!/usr/bin/env bash
# Session 4: continue the shipped default (runs/s3/sft_plain/model = peft_t2l/default_model's weights) on all 452
# training tasks for 750 more steps, same recipe as session 3 (bf16 autocast, one thread per lane, 8 tasks x 1 example,
# per-example loss, no offset, last 8 instances per task held out), a new seed so batches differ, lr 2e-4 re-warmed.
#   bash docs/results/runs/session4/lanes.sh A   # plain continuation (does more training alone make the text matter?)
#   bash docs/results/runs/session4/lanes.sh B   # the same + a mild mismatch margin (a quarter of rows, weight 0.25)
# Each lane resumes from its latest checkpoint when re-run after a stop.
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
set -e
mkdir -p runs/s4
INIT=${INIT:-runs/s3/sft_plain/model}
COMMON="init_from=$INIT seed=43 max_steps=750 warmup_steps=40 learning_rate=2e-4 tasks_per_batch=8 examples_per_task=1
  loss_per_example=true num_holdout_instances=8 mixed_precision=bf16 save_every=25 log_every=5 progress=false"
resume() { [ -d "$1/checkpoints" ] && echo "resume=true" || true; }
sft() {  # sft <name> <extra overrides...>
  local out=runs/s4/$1; shift
  [ -f "$out/model/model.safetensors" ] && return 0
  .venv/bin/t2l train sft --config configs/sft_smollm2_sni.yaml output_dir="$out" $COMMON l2_reg_generated_w=0 "$@" \
    $(resume "$out") >> "$out.log" 2>&1
}
[ "$1" = A ] && sft cont_plain
[ "$1" = B ] && sft cont_margin mismatch_fraction=0.25 mismatch_weight=0.25 mismatch_margin=1.0
echo "LANE_$1_DONE"
