#!/usr/bin/env bash
# Compute-matched multi-task LoRA (150 + 1000 = 1150 steps, as many as the shipped T2L had in all), held-out split.
# Resumable: rerun this script; it resumes from the last checkpoint.
cd /work/main
export HF_HUB_OFFLINE=1
R=""; [ -d runs/s2/mt_lora_1150/checkpoints ] && R="resume=true"
exec .venv/bin/t2l train lora --config configs/lora_multitask_smollm2_sni.yaml output_dir=runs/s2/mt_lora_1150 \
  max_steps=1150 warmup_steps=115 num_holdout_instances=8 save_every=25 log_every=10 progress=false $R
