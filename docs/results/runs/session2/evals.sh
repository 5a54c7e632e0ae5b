#!/usr/bin/env bash
# Evaluations of session 2. Lane C (after lane B): seen-a, validation-a. Lane D (after SFT): seen-b, validation-b.
cd /work/main
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
SEEN="task084_babi_t1_single_supporting_fact_identify_relevant_fact task1198_atomic_classification_owant task140_detoxifying-lms_classification_style task1448_disease_entity_extraction_ncbi_dataset task1711_poki_text_generation task275_enhanced_wsc_paraphrase_generation task636_extract_and_sort_unique_alphabets_in_a_list task705_mmmlu_answer_generation_high_school_macroeconomics task717_mmmlu_answer_generation_logical_fallacies task742_lhoestq_answer_generation_frequency task1146_country_capital task190_snli_classification task363_sst2_polarity_classification task1087_two_number_sum task288_gigaword_summarization task379_agnews_topic_classification"
COMMON="--max-new-tokens 64 --batch-size 8 --num-descriptions 3"
SEEN_ARGS="--tasks ../shared/data/sni/train --task-names $SEEN --holdout 8 --holdout-instances 8 $COMMON"
VAL_ARGS="--tasks ../shared/data/sni/validation $COMMON"
R=docs/results/s2
if [ "$1" = C ]; then
  while [ ! -f runs/s2/recon/model/model.safetensors ]; do sleep 20; done
  [ -f $R/seen-a/results.json ] || .venv/bin/t2l eval $SEEN_ARGS --base --multitask-lora runs/s2/mt_lora/adapter \
    --oracle-dir runs/s2/oracle/adapters --t2l t2l-recon=runs/s2/recon/model --descriptions train heldout random \
    --out $R/seen-a > runs/s2/eval_seen_a.log 2>&1
  [ -f $R/validation-a/results.json ] || .venv/bin/t2l eval $VAL_ARGS --base --base-with-description \
    --multitask-lora runs/s2/mt_lora/adapter --descriptions train --out $R/validation-a > runs/s2/eval_val_a.log 2>&1
  echo LANE_C_DONE
fi
if [ "$1" = D ]; then
  while [ ! -f runs/s2/sft/model/model.safetensors ]; do sleep 20; done
  [ -f $R/seen-b/results.json ] || .venv/bin/t2l eval $SEEN_ARGS --t2l t2l-sft=runs/s2/sft/model \
    --descriptions train heldout random --out $R/seen-b > runs/s2/eval_seen_b.log 2>&1
  [ -f $R/validation-b/results.json ] || .venv/bin/t2l eval $VAL_ARGS --t2l t2l-sft=runs/s2/sft/model \
    --descriptions train random --out $R/validation-b > runs/s2/eval_val_b.log 2>&1
  echo LANE_D_DONE
fi
