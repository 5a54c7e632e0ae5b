"""Merge session 8's evaluation runs with the earlier runs of the systems that did not change.

    .venv/bin/python docs/results/runs/session8/tables.py

Same base model, tasks, prompts and options throughout (`t2l eval-merge` checks that): base from session 3,
base + description (and the oracles on seen tasks) from session 2, the multi-task LoRA at 1,200 steps from session 5
(`multitask`) and at 2,400 steps from session 7's lane M (`multitask@2400`, renamed here: both runs call it
`multitask`), the shipped default `margin3` from session 6, `settle` from session 7, and this session's weight
averages `soup2` and `soup5` (decision.md). Missing folders are skipped.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from peft_t2l.evaluation import paired_gap, read_report


def _script(session: str):
    """Another session's tables.py as a module (they are all called `tables`, so a plain import finds one only)."""
    path = Path(__file__).parent.parent / session / "tables.py"
    sys.path.insert(0, str(path.parent))  # session 7's imports session 3's by name
    spec = importlib.util.spec_from_file_location(f"{session}_tables", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


merged = _script("session3").merged  # merges reports, dropping and renaming systems
candidates_against_default = _script("session7").candidates_against_default  # paired gaps to margin3

S2, S3, S5, S6, S7, S8 = (Path(f"docs/results/s{i}") for i in (2, 3, 5, 6, 7, 8))
CANDIDATES = ("soup2", "soup5", "soup3")


def default_against_multitask(
    folder: Path, systems: tuple[str, ...] = ("t2l:margin3@train", "t2l:soup2@train")
) -> None:
    """Each system minus each multi-task LoRA, paired over instances (the issue's "+4 over the multi-task LoRA")."""
    report, _ = read_report(folder)
    for default in systems:
        for system in ("multitask", "multitask@2400"):
            if default in report.results and system in report.results:
                gap = paired_gap(report, default, system)
                ahead = f"ahead on {gap.tasks_ahead}/{len(gap.per_task)}"
                print(f"{folder}: {default} - {system} = {gap.mean} ROUGE-L, {ahead}")


def worst_tasks_against_base(folder: Path, systems: list[str]) -> None:
    """Each system's two lowest tasks minus base (the issue's "no task more than 3 points below base")."""
    report, _ = read_report(folder)
    for system in [s for s in systems if s in report.results]:
        gaps = {t: r.rouge_l - report.results["base"][t].rouge_l for t, r in report.results[system].items()}
        worst = sorted(gaps.items(), key=lambda item: item[1])[:2]
        print(f"{folder}: {system} minus base, lowest tasks: " + ", ".join(f"{t} {g:+.1f}" for t, g in worst))


if __name__ == "__main__":
    mt2400 = {"multitask": "multitask@2400"}
    merged(
        S8 / "validation",
        [
            (S3 / "validation-base", ("multitask",), {}),
            (S2 / "validation-a", ("base", "multitask"), {}),
            (S5 / "validation-mt", (), {}),
            (S7 / "validation-mt2400", (), mt2400),
            (S6 / "validation-margin3", (), {}),
            (S6 / "validation-margin3-controls", (), {}),
            (S7 / "validation-settle", (), {}),
            (S7 / "validation-settle-controls", (), {}),
            (S7 / "validation-definition-base", (), {}),
            (S7 / "validation-definition-margin3", (), {}),
            *[(S8 / f"validation{part}-{name}", (), {}) for name in CANDIDATES for part in ("", "-definition")],
            *[(S8 / f"validation-{name}-controls", (), {}) for name in CANDIDATES],
        ],
    )
    merged(
        S8 / "seen",
        [
            (S2 / "seen-a", ("multitask", "t2l:"), {}),
            (S5 / "seen-mt", (), {}),
            (S7 / "seen-mt2400", (), mt2400),
            (S6 / "seen-margin3", (), {}),
            (S7 / "seen-settle", (), {}),
            *[(S8 / f"seen-{name}", (), {}) for name in CANDIDATES],
        ],
    )
    own = ["t2l:margin3@train", "t2l:settle@train", *[f"t2l:{name}@train" for name in CANDIDATES]]
    worst_tasks_against_base(S8 / "validation", own + [s.replace("@train", "@definition") for s in own])
    for folder in (S8 / "validation", S8 / "seen"):
        candidates_against_default(folder, CANDIDATES)
        default_against_multitask(folder)
