#!/usr/bin/env bash
# Session 5 evaluations, the session-3 protocol unchanged (run from anywhere; each waits for its model and skips what
# is already written):
#   bash docs/results/runs/session5/evals.sh C   # stronger-margin T2L: validation, own descriptions x3; then seen held-out
#   bash docs/results/runs/session5/evals.sh C2  # the same model's 3 controls on validation (a second core's share)
#   bash docs/results/runs/session5/evals.sh D   # multi-task LoRA at 1,200 steps: validation, seen held-out
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
R=docs/results/s5
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
if [ "$1" = C ]; then
  wait_for runs/s5/margin2/model/model.safetensors
  run $R/validation-margin2 $VAL --t2l margin2=runs/s5/margin2/model --descriptions train
  run $R/seen-margin2 $SEEN_ARGS --t2l margin2=runs/s5/margin2/model --descriptions train random uninformative
fi
if [ "$1" = C2 ]; then
  wait_for runs/s5/margin2/model/model.safetensors
  run $R/validation-margin2-controls $VAL --t2l margin2=runs/s5/margin2/model --descriptions random unrelated uninformative
fi
if [ "$1" = D ]; then
  wait_for runs/s5/mt_lora/adapter/adapter_model.safetensors
  run $R/validation-mt $VAL --multitask-lora runs/s5/mt_lora/adapter
  run $R/seen-mt $SEEN_ARGS --multitask-lora runs/s5/mt_lora/adapter
fi
echo "EVAL_$1_DONE"
