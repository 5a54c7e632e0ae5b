"""Evaluation: does a generated adapter help? Base, base + description, multi-task, oracle and T2L, side by side.

Modules: `metrics` (SNI exact match and ROUGE-L, multiple-choice detection), `systems` (what is compared, which
descriptions, the shared base model), `harness` (prompting, batched generation, log-likelihood choices),
`conditioning` (own description minus controls, paired bootstrap), `reports` (JSON, markdown, plot, merging runs,
share of the oracle gain), `cli` (`t2l eval`, `t2l eval-merge`).
"""

from .conditioning import Gap, PairedGap, conditioning_gaps, paired_gap
from .harness import EvalConfig, EvalReport, TaskResult, evaluate, generate_answers, option_log_likelihoods, user_turn
from .metrics import LabelSet, detect_label_set, exact_match, normalize_answer, rouge_l
from .reports import (
    ReportFiles,
    markdown_tables,
    merge_reports,
    oracle_gain_share,
    plot_scores,
    read_report,
    write_report,
)
from .systems import (
    CONTROL_MODES,
    DESCRIPTION_MODES,
    SYSTEM_KINDS,
    UNINFORMATIVE,
    UNRELATED_DESCRIPTIONS,
    AdapterHost,
    SystemSpec,
    select_descriptions,
)

__all__ = [
    "CONTROL_MODES",
    "DESCRIPTION_MODES",
    "SYSTEM_KINDS",
    "UNINFORMATIVE",
    "UNRELATED_DESCRIPTIONS",
    "AdapterHost",
    "EvalConfig",
    "EvalReport",
    "Gap",
    "LabelSet",
    "PairedGap",
    "ReportFiles",
    "SystemSpec",
    "TaskResult",
    "conditioning_gaps",
    "detect_label_set",
    "evaluate",
    "exact_match",
    "generate_answers",
    "markdown_tables",
    "merge_reports",
    "normalize_answer",
    "option_log_likelihoods",
    "paired_gap",
    "oracle_gain_share",
    "plot_scores",
    "read_report",
    "rouge_l",
    "select_descriptions",
    "user_turn",
    "write_report",
]
