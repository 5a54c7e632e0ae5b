"""The systems an evaluation compares and which description each task gets.

Every system runs on the same base model object, hosted by `peft_t2l.hosting.AdapterHost` (re-exported here):
adapters are added to one `PeftModel` under their own names (PEFT folders are loaded once, generated adapters are
hot-swapped per task), and the base systems run with the adapters disabled. Nothing is rebuilt per task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..data import Task
from ..hosting import AdapterHost
from ..model import T2LModel

SYSTEM_KINDS = ("base", "base+description", "multitask", "oracle", "t2l")
DESCRIPTION_MODES = ("train", "heldout", "definition", "random", "unrelated", "uninformative")
# what a T2L system's own description is compared with (see conditioning.py): another task's description, a fixed
# description of no evaluated task, and no description at all
CONTROL_MODES = ("random", "unrelated", "uninformative")
UNRELATED_DESCRIPTIONS = (
    "Write a short poem about the given topic.",
    "Translate the given English sentence into German.",
    "List three synonyms of the given word, separated by commas.",
)
# the label of the adapter a T2L writes from the zero task embedding: the part of its output no text moves
UNINFORMATIVE = "(no description: zero task embedding)"
_READS_DESCRIPTIONS = ("base+description", "t2l")


@dataclass(frozen=True)
class SystemSpec:
    """One column of the comparison.

    Args:
        kind: one of `SYSTEM_KINDS`.
        name: column name in the reports (default: derived from the kind, the T2L name and the description mode).
        source: the multi-task PEFT folder, the folder of per-task oracle folders, or the T2L model (folder or object).
        descriptions: for `base+description` and `t2l`, which descriptions the tasks get (`DESCRIPTION_MODES`).
        num_descriptions: descriptions per task for this system (default: the evaluation's `num_descriptions`).

    Example:
        ```python
        >>> SystemSpec(kind="t2l", source="runs/sft", descriptions="heldout", name="t2l:sft@heldout")
        ```
    """

    kind: str = field(metadata={"help": f"One of {SYSTEM_KINDS}."})
    name: str = field(default="", metadata={"help": "Column name in the reports."})
    source: str | Path | T2LModel | None = field(
        default=None, metadata={"help": "PEFT folder (multitask), folder of task folders (oracle), or T2L model."}
    )
    descriptions: str | None = field(default=None, metadata={"help": f"One of {DESCRIPTION_MODES}."})
    num_descriptions: int | None = field(
        default=None, metadata={"help": "Descriptions per task for this system (default: the evaluation's)."}
    )

    def __post_init__(self):
        if self.kind not in SYSTEM_KINDS:
            raise ValueError(f"SystemSpec.kind={self.kind!r} is unknown; use one of {SYSTEM_KINDS}.")
        if self.kind in _READS_DESCRIPTIONS and self.descriptions not in DESCRIPTION_MODES:
            raise ValueError(
                f"SystemSpec.descriptions={self.descriptions!r} for a {self.kind!r} system; use one of "
                f"{DESCRIPTION_MODES}."
            )
        if self.kind == "base+description" and self.descriptions == "uninformative":
            raise ValueError(
                "SystemSpec.descriptions='uninformative' is a zero task embedding for a T2L; a prompt without a "
                "description is the 'base' system."
            )
        if self.num_descriptions is not None and self.num_descriptions < 1:
            raise ValueError(f"SystemSpec.num_descriptions={self.num_descriptions} must be at least 1 (or None).")
        if self.kind not in _READS_DESCRIPTIONS and self.descriptions is not None:
            raise ValueError(f"SystemSpec.descriptions is set for a {self.kind!r} system, which reads none; drop it.")
        if self.kind in ("multitask", "oracle") and not (self.source and Path(self.source).is_dir()):
            raise ValueError(f"SystemSpec.source={self.source!r} for a {self.kind!r} system is not a folder.")
        if self.kind == "t2l" and self.source is None:
            raise ValueError("SystemSpec.source is empty for a 't2l' system; pass a T2L model folder or object.")
        if not self.name:
            object.__setattr__(
                self, "name", self.kind if self.descriptions is None else f"{self.kind}@{self.descriptions}"
            )

    @property
    def reads_descriptions(self) -> bool:
        return self.kind in _READS_DESCRIPTIONS


def select_descriptions(tasks: list[Task], mode: str, *, count: int = 1) -> dict[str, list[str]]:
    """The descriptions each task is evaluated with: the first `count` of the chosen kind.

    Modes: `train` (the task's training descriptions), `heldout` (its `eval_descriptions`, kept out of training),
    `definition` (the SNI definition), and three controls: `random` (the training descriptions of the next task in
    name order, so each task gets a real description of another task), `unrelated` (fixed descriptions of no
    evaluated task, `UNRELATED_DESCRIPTIONS`, at most 3) and `uninformative` (one label, `UNINFORMATIVE`, for which a
    T2L system uses the zero task embedding).

    Args:
        tasks: the evaluated tasks.
        mode: one of `DESCRIPTION_MODES`.
        count: descriptions per task; each is evaluated and the task's score is their mean.

    Example:
        ```python
        >>> select_descriptions(tasks, "heldout", count=3)["task202_mnli_contradiction_classification"]
        ```
    """
    if mode not in DESCRIPTION_MODES:
        raise ValueError(f"descriptions={mode!r} is unknown; use one of {DESCRIPTION_MODES}.")
    if count < 1:
        raise ValueError(f"count={count} must be at least 1 description per task.")
    if mode == "unrelated":
        return {t.name: list(UNRELATED_DESCRIPTIONS[:count]) for t in tasks}
    if mode == "uninformative":  # the zero embedding is one adapter: more than one pass would repeat it
        return {t.name: [UNINFORMATIVE] for t in tasks}
    if mode == "random":
        if len(tasks) < 2:
            raise ValueError("descriptions='random' takes another task's description; evaluate at least two tasks.")
        ordered = sorted(tasks, key=lambda t: t.name)
        donors = {t.name: ordered[(i + 1) % len(ordered)] for i, t in enumerate(ordered)}
        return {t.name: list(donors[t.name].descriptions[:count]) for t in tasks}
    chosen = {}
    for task in tasks:
        pool = {"train": task.descriptions, "heldout": task.eval_descriptions, "definition": (task.definition,)}[mode]
        pool = tuple(d for d in pool if d)
        if not pool:
            fix = (
                "pass --holdout N to hold out the last N training descriptions"
                if mode == "heldout"
                else "choose another mode"
            )
            raise ValueError(f"task {task.name!r} has no {mode!r} descriptions; {fix}.")
        chosen[task.name] = list(pool[:count])
    return chosen


__all__ = [
    "CONTROL_MODES",
    "DESCRIPTION_MODES",
    "SYSTEM_KINDS",
    "UNINFORMATIVE",
    "UNRELATED_DESCRIPTIONS",
    "AdapterHost",
    "SystemSpec",
    "select_descriptions",
]
