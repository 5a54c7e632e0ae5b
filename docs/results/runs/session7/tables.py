"""Merge session 7's evaluation runs with the earlier runs of the systems that did not change.

    .venv/bin/python docs/results/runs/session7/tables.py

Same base model, tasks, prompts and options throughout (`t2l eval-merge` checks that): base from session 3,
base + description (and the oracles on seen tasks) from session 2, the multi-task LoRA at 1,200 steps and `margin2`
from session 5, the shipped default (`margin3`) from session 6, and this session's continuations of `margin3`
(400 more steps each at half its learning rate): `settle` with a weak margin and `plain` with none; the second round
(250 steps with margin3's margin): `defs` with a quarter of the rows generated from SNI definitions, `more` without; the
`@definition` columns (each task's SNI definition as the description). Missing folders are skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "session3"))
from tables import merged  # noqa: E402  (session 3's merge helper)

from peft_t2l.evaluation import oracle_gain_share, paired_gap, read_report  # noqa: E402

S2, S3, S5, S6, S7 = (Path(f"docs/results/s{i}") for i in (2, 3, 5, 6, 7))


def candidates_against_default(
    folder: Path, names: tuple[str, ...] = ("settle", "plain", "defs", "more"), default: str = "margin3"
) -> None:
    """Each candidate's own-description column minus the default's, paired over instances (the shipping rule's test).

    On seen tasks the gap is also given as a share of the oracles' gain: base and oracle are fixed columns, so the
    share difference is the paired gap divided by (oracle - base), and its interval scales the same way.
    """
    report, _ = read_report(folder)
    shares = oracle_gain_share(report) or {}
    oracle = [n for n, spec in report.systems.items() if spec.get("kind") == "oracle"]
    base = [n for n, spec in report.systems.items() if spec.get("kind") == "base"]
    for name in names:
        system, reference = f"t2l:{name}@train", f"t2l:{default}@train"
        if system not in report.results or reference not in report.results:
            continue
        gap = paired_gap(report, system, reference)
        line = f"{folder}: {system} - {reference} = {gap.mean} ROUGE-L, ahead on {gap.tasks_ahead}/{len(gap.per_task)}"
        if shares and oracle and base:
            scale = 100.0 / (report.mean(oracle[0], "rouge_l") - report.mean(base[0], "rouge_l"))
            line += (
                f"; share {shares[reference]:.2f} -> {shares[system]:.2f}, difference in points of the oracles' gain"
                f" {gap.mean.value * scale:+.1f} [{gap.mean.low * scale:+.1f}, {gap.mean.high * scale:+.1f}]"
            )
        print(line)


if __name__ == "__main__":
    merged(
        S7 / "validation",
        [
            (S3 / "validation-base", ("multitask",)),
            (S2 / "validation-a", ("base", "multitask")),
            (S5 / "validation-mt", ()),
            (S5 / "validation-margin2", ()),
            (S5 / "validation-margin2-controls", ()),
            (S6 / "validation-margin3", ()),
            (S6 / "validation-margin3-controls", ()),
            (S7 / "validation-settle", ()),
            (S7 / "validation-settle-controls", ()),
            (S7 / "validation-plain", ()),
            (S7 / "validation-plain-controls", ()),
            (S7 / "validation-definition-base", ()),
            (S7 / "validation-definition-margin3", ()),
            (S7 / "validation-definition-settle", ()),
            (S7 / "validation-definition-plain", ()),
            (S7 / "validation-defs", ()),
            (S7 / "validation-defs-controls", ()),
            (S7 / "validation-definition-defs", ()),
            (S7 / "validation-more", ()),
            (S7 / "validation-more-controls", ()),
            (S7 / "validation-definition-more", ()),
        ],
    )
    merged(
        S7 / "seen",
        [
            (S2 / "seen-a", ("multitask", "t2l:")),
            (S5 / "seen-mt", ()),
            (S5 / "seen-margin2", ()),
            (S6 / "seen-margin3", ()),
            (S7 / "seen-settle", ()),
            (S7 / "seen-plain", ()),
            (S7 / "seen-defs", ()),
            (S7 / "seen-more", ()),
        ],
    )
    candidates_against_default(S7 / "validation")
    candidates_against_default(S7 / "seen")
