#!/usr/bin/env bash
# Session 3 evaluations (run from anywhere; each waits for its model, skips what is already written).
#   bash docs/results/runs/session3/evals.sh A   # the margin T2L: validation (own x3 + 3 controls), seen held-out
#   bash docs/results/runs/session3/evals.sh B   # the plain T2L, the multi-task LoRA and the base model
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
R=docs/results/s3
SEEN="task084_babi_t1_single_supporting_fact_identify_relevant_fact task1198_atomic_classification_owant task140_detoxifying-lms_classification_style task1448_disease_entity_extraction_ncbi_dataset task1711_poki_text_generation task275_enhanced_wsc_paraphrase_generation task636_extract_and_sort_unique_alphabets_in_a_list task705_mmmlu_answer_generation_high_school_macroeconomics task717_mmmlu_answer_generation_logical_fallacies task742_lhoestq_answer_generation_frequency task1146_country_capital task190_snli_classification task363_sst2_polarity_classification task1087_two_number_sum task288_gigaword_summarization task379_agnews_topic_classification"
COMMON="--max-new-tokens 64 --batch-size 8 --num-descriptions 3 --control-descriptions 1"
VAL="--tasks ../shared/data/sni/validation $COMMON"
SEEN_ARGS="--tasks ../shared/data/sni/train --task-names $SEEN --holdout 8 --holdout-instances 8 $COMMON"
wait_for() { while [ ! -f "$1" ]; do sleep 30; done; }
run() {  # run <out> <args...>
  local out=$1; shift
  [ -f "$out/results.json" ] || .venv/bin/t2l eval "$@" --out "$out" > "$out.log" 2>&1
}
mkdir -p $R
if [ "$1" = A ]; then
  wait_for runs/s3/sft_margin/model/model.safetensors
  run $R/validation-margin $VAL --t2l margin=runs/s3/sft_margin/model \
    --descriptions train random unrelated uninformative
  # the margin model did worse on validation than the plain one, so the seen-task run went to the shipped (plain) model
  run $R/seen-plain $SEEN_ARGS --t2l plain=runs/s3/sft_plain/model --descriptions train random uninformative
fi
if [ "$1" = C ]; then  # if time allows: the session-2 default (91 tasks, offset, no margin) under the same protocol
  #   cp -r peft_t2l/default_model runs/s3/old_default   (at commit 596d699, before the new default replaced it)
  run $R/validation-old $VAL --t2l s2default=runs/s3/old_default --descriptions train random unrelated uninformative
fi
if [ "$1" = B ]; then
  wait_for runs/s3/sft_plain/model/model.safetensors
  run $R/validation-plain $VAL --t2l plain=runs/s3/sft_plain/model --descriptions train random unrelated uninformative
  wait_for runs/s3/mt_lora/adapter/adapter_model.safetensors
  run $R/validation-base $VAL --base --multitask-lora runs/s3/mt_lora/adapter
  run $R/seen-mt $SEEN_ARGS --multitask-lora runs/s3/mt_lora/adapter
fi
echo "EVAL_$1_DONE"
