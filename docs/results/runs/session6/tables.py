"""Merge session 6's evaluation runs with the earlier runs of the systems that did not change.

    .venv/bin/python docs/results/runs/session6/tables.py

Same base model, tasks, prompts and options throughout (`t2l eval-merge` checks that): base from session 3,
base + description (and the oracles on seen tasks) from session 2, the multi-task LoRA at 1,200 steps and the shipped
default (`margin2`) from session 5, and this session's continuations of `margin2` (600 more steps each): `margin3`
with a stronger mismatch margin, `nearest` with margin2's margin against nearest-task negatives, and (when it has
run) `margin2_more` with margin2's own recipe. Missing folders are skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "session3"))
from tables import merged  # noqa: E402  (session 3's merge helper)

S2, S3, S5, S6 = (Path(f"docs/results/s{i}") for i in (2, 3, 5, 6))

if __name__ == "__main__":
    merged(
        S6 / "validation",
        [
            (S3 / "validation-base", ("multitask",)),
            (S2 / "validation-a", ("base", "multitask")),
            (S5 / "validation-mt", ()),
            (S5 / "validation-margin2", ()),
            (S5 / "validation-margin2-controls", ()),
            (S6 / "validation-margin3", ()),
            (S6 / "validation-margin3-controls", ()),
            (S6 / "validation-nearest", ()),
            (S6 / "validation-nearest-controls", ()),
            (S6 / "validation-margin2_more", ()),
            (S6 / "validation-margin2_more-controls", ()),
        ],
    )
    merged(
        S6 / "seen",
        [
            (S2 / "seen-a", ("multitask", "t2l:")),
            (S5 / "seen-mt", ()),
            (S5 / "seen-margin2", ()),
            (S6 / "seen-margin3", ()),
            (S6 / "seen-nearest", ()),
            (S6 / "seen-margin2_more", ()),
        ],
    )
