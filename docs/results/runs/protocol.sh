# The evaluation protocol of sessions 3-5, sourced by their evals.sh (from the repository root) so it is one text:
# 16 seen training tasks (their last 8 instances, held out by every run), the 11 validation tasks, 3 own descriptions
# and 1 per control, greedy, 64 new tokens at most. `run` skips a report that exists; `wait_for` waits for a model;
# `lane` runs a T2L model's three reports (sessions 6-7). From session 9 it also sets the environment every evaluation
# runs in (offline, one thread per job) and makes the caller's results folder $R.
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
if [ -n "$R" ]; then mkdir -p "$R"; fi
SEEN="task084_babi_t1_single_supporting_fact_identify_relevant_fact task1198_atomic_classification_owant task140_detoxifying-lms_classification_style task1448_disease_entity_extraction_ncbi_dataset task1711_poki_text_generation task275_enhanced_wsc_paraphrase_generation task636_extract_and_sort_unique_alphabets_in_a_list task705_mmmlu_answer_generation_high_school_macroeconomics task717_mmmlu_answer_generation_logical_fallacies task742_lhoestq_answer_generation_frequency task1146_country_capital task190_snli_classification task363_sst2_polarity_classification task1087_two_number_sum task288_gigaword_summarization task379_agnews_topic_classification"
COMMON="--max-new-tokens 64 --batch-size 8 --num-descriptions 3 --control-descriptions 1"
VAL="--tasks ../shared/data/sni/validation $COMMON"
SEEN_ARGS="--tasks ../shared/data/sni/train --task-names $SEEN --holdout 8 --holdout-instances 8 $COMMON"
wait_for() { while [ ! -f "$1" ]; do sleep 30; done; }
run() {  # run <out> <args...>
  local out=$1; shift
  [ -f "$out/results.json" ] || .venv/bin/t2l eval "$@" --out "$out" > "$out.log" 2>&1
}
lane() {  # lane <name> <T2L model folder>: validation own x3, its controls, seen held-out, into $R (set by the caller)
  wait_for "$2/model.safetensors"
  run $R/validation-$1 $VAL --t2l $1="$2" --descriptions train
  run $R/validation-$1-controls $VAL --t2l $1="$2" --descriptions random unrelated uninformative
  run $R/seen-$1 $SEEN_ARGS --t2l $1="$2" --descriptions train random uninformative
}
