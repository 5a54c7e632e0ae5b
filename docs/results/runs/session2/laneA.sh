#!/usr/bin/env bash
# Lane A: multi-task LoRA (instances held out) -> T2L SFT from it as offset, 1000 steps.
cd /work/main
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
set -e
if [ ! -f runs/s2/mt_lora/adapter/adapter_model.safetensors ]; then
  R=""; [ -d runs/s2/mt_lora/checkpoints ] && R="resume=true"
  .venv/bin/t2l train lora --config configs/lora_multitask_smollm2_sni.yaml output_dir=runs/s2/mt_lora \
    max_steps=150 warmup_steps=15 num_holdout_instances=8 save_every=25 log_every=5 progress=false $R
fi
if [ ! -f runs/s2/sft/model/model.safetensors ]; then
  R=""; [ -d runs/s2/sft/checkpoints ] && R="resume=true"
  .venv/bin/t2l train sft --config configs/sft_smollm2_sni.yaml output_dir=runs/s2/sft \
    offset_from_lora=runs/s2/mt_lora/adapter max_steps=1000 warmup_steps=100 learning_rate=3e-4 \
    l2_reg_generated_w=0 num_holdout_instances=8 save_every=50 log_every=10 progress=false $R
fi
echo LANE_A_DONE
