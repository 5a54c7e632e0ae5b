"""Merge session 7's evaluation runs with the earlier runs of the systems that did not change.

    .venv/bin/python docs/results/runs/session7/tables.py

Same base model, tasks, prompts and options throughout (`t2l eval-merge` checks that): base from session 3,
base + description (and the oracles on seen tasks) from session 2, the multi-task LoRA at 1,200 steps and `margin2`
from session 5, the shipped default (`margin3`) from session 6, and this session's continuations of `margin3`
(400 more steps each at half its learning rate): `settle` with a weak margin and `plain` with none; and the
`@definition` columns (each task's SNI definition as the description). Missing folders are skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "session3"))
from tables import merged  # noqa: E402  (session 3's merge helper)

S2, S3, S5, S6, S7 = (Path(f"docs/results/s{i}") for i in (2, 3, 5, 6, 7))

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
        ],
    )
