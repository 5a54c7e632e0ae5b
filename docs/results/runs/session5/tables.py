"""Merge session 5's evaluation runs with the earlier runs of the systems that did not change.

    .venv/bin/python docs/results/runs/session5/tables.py

Same base model, tasks, prompts and options throughout (`t2l eval-merge` checks that): base from session 3,
base + description (and the oracles on seen tasks) from session 2, the shipped default (`contmargin`) from session 4,
and this session's runs: the multi-task LoRA trained to the T2L's 1,200 steps (replacing session 3's 450-step one)
and `margin2`, the shipped default trained 600 more steps with a stronger mismatch margin (its own-description run and
its control run are separate processes, merged here).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "session3"))
from tables import merged  # noqa: E402  (session 3's merge helper)

S2, S3, S4, S5 = (Path(f"docs/results/s{i}") for i in (2, 3, 4, 5))

if __name__ == "__main__":
    merged(
        S5 / "validation",
        [
            (S3 / "validation-base", ("multitask",)),
            (S2 / "validation-a", ("base", "multitask")),
            (S5 / "validation-mt", ()),
            (S4 / "validation-contmargin", ()),
            (S5 / "validation-margin2", ()),
            (S5 / "validation-margin2-controls", ()),
        ],
    )
    merged(
        S5 / "seen",
        [
            (S2 / "seen-a", ("multitask", "t2l:")),
            (S5 / "seen-mt", ()),
            (S4 / "seen-contmargin", ()),
            (S5 / "seen-margin2", ()),
        ],
    )
