#!/usr/bin/env bash
# Lane B: oracle LoRAs for 16 training tasks (instances held out) -> recon T2L of that library.
cd /work/main
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
set -e
TASKS="[task084_babi_t1_single_supporting_fact_identify_relevant_fact,task1198_atomic_classification_owant,task140_detoxifying-lms_classification_style,task1448_disease_entity_extraction_ncbi_dataset,task1711_poki_text_generation,task275_enhanced_wsc_paraphrase_generation,task636_extract_and_sort_unique_alphabets_in_a_list,task705_mmmlu_answer_generation_high_school_macroeconomics,task717_mmmlu_answer_generation_logical_fallacies,task742_lhoestq_answer_generation_frequency,task1146_country_capital,task190_snli_classification,task363_sst2_polarity_classification,task1087_two_number_sum,task288_gigaword_summarization,task379_agnews_topic_classification]"
.venv/bin/t2l train lora --config configs/lora_oracle_smollm2_sni.yaml output_dir=runs/s2/oracle \
  "tasks=$TASKS" num_holdout_instances=8 progress=false resume=true
if [ ! -f runs/s2/recon/model/model.safetensors ]; then
  R=""; [ -d runs/s2/recon/checkpoints ] && R="resume=true"
  .venv/bin/t2l train recon --config configs/recon_smollm2_sni.yaml output_dir=runs/s2/recon \
    library=runs/s2/oracle/adapters progress=false $R
fi
echo LANE_B_DONE
