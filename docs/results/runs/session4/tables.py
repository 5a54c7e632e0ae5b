"""Merge session 4's evaluation runs with the session-3 runs of the systems that did not change.

    .venv/bin/python docs/results/runs/session4/tables.py

Same base model, tasks, prompts and options throughout (`t2l eval-merge` checks that): base and the multi-task LoRA
(450 steps) from session 3, base + description from session 2, the shipped default (`plain`, session 3), and the
two continuations of it trained this session (`cont`, `contmargin`).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "session3"))
from tables import merged  # noqa: E402  (session 3's merge helper)

S2, S3, S4 = Path("docs/results/s2"), Path("docs/results/s3"), Path("docs/results/s4")

if __name__ == "__main__":
    merged(
        S4 / "validation",
        [
            (S3 / "validation-base", ()),
            (S2 / "validation-a", ("base", "multitask")),
            (S3 / "validation-plain", ()),
            (S4 / "validation-cont", ()),
            (S4 / "validation-contmargin", ()),
        ],
    )
    merged(
        S4 / "seen",
        [
            (S2 / "seen-a", ("multitask", "t2l:")),
            (S3 / "seen-mt", ()),
            (S3 / "seen-plain", ()),
            (S4 / "seen-cont", ()),
            (S4 / "seen-contmargin", ()),
        ],
    )
