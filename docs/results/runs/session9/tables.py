"""Merge session 9's evaluation runs with session 8's tables, and print the lines decision.md's rule reads.

    .venv/bin/python docs/results/runs/session9/tables.py

Session 8's merged tables (`docs/results/s8/{validation,seen}`: base, base + description, the oracles, both
multi-task LoRAs, margin3, settle, soup2 and soup3) plus this session's runs: `margin3_s46` and `margin3_s47` (margin3's
last round with seeds 46 and 47) and the weight averages `seeds2`, `seeds2settle`, `seeds3` (soups.sh). Missing
folders are skipped.
"""

from __future__ import annotations

import runpy
from pathlib import Path

# session 8's helpers (its main block does not run): session 3's merge, session 7's paired gaps to a default, its own
session8 = runpy.run_path(str(Path(__file__).parent.parent / "session8" / "tables.py"))
merged, candidates_against_default = session8["merged"], session8["candidates_against_default"]
worst_tasks_against_base, default_against_multitask = (
    session8["worst_tasks_against_base"],
    session8["default_against_multitask"],
)

S8, S9 = Path("docs/results/s8"), Path("docs/results/s9")
SEEDS = ("margin3_s46", "margin3_s47")
CANDIDATES = ("margin3_s46", "seeds2", "seeds2settle", "seeds3")

if __name__ == "__main__":
    names = (*SEEDS, *CANDIDATES[1:])
    merged(
        S9 / "validation",
        [
            (S8 / "validation", (), {}),
            *[(S9 / f"validation{part}-{name}", (), {}) for name in names for part in ("", "-definition")],
            *[(S9 / f"validation-{name}-controls", (), {}) for name in names],
        ],
    )
    seen = [(S9 / f"seen-{name}", (), {}) for name in names if (S9 / f"seen-{name}").is_dir()]
    if seen:  # no candidate reached its seen run: session 8's table stands
        merged(S9 / "seen", [(S8 / "seen", (), {}), *seen])
    own = [f"t2l:{name}@train" for name in ("margin3", "soup2", *names)]
    worst_tasks_against_base(S9 / "validation", own + [s.replace("@train", "@definition") for s in own])
    for folder in [f for f in (S9 / "validation", S9 / "seen") if f.is_dir()]:
        print("seed spread (each seed minus margin3, seed 45):")
        candidates_against_default(folder, SEEDS, default="margin3")
        print("the rule (each candidate minus the shipped soup2):")
        candidates_against_default(folder, CANDIDATES, default="soup2")
        default_against_multitask(folder, ("t2l:soup2@train", *[f"t2l:{n}@train" for n in CANDIDATES]))
