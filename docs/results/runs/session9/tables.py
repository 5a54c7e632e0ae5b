"""Merge session 9's evaluation runs with session 8's tables, and print the lines decision.md's rule reads.

    .venv/bin/python docs/results/runs/session9/tables.py

Session 8's merged tables (`docs/results/s8/{validation,seen}`: base, base + description, the oracles, both
multi-task LoRAs, margin3, settle, soup2 and soup3) plus this session's runs: `margin3_s46` and `margin3_s47` (margin3's
last round with seeds 46 and 47) and the weight averages `seeds2`, `seeds2settle`, `seeds3` (soups.sh). Missing
folders are skipped.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def _script(session: str):
    """Another session's tables.py as a module (they are all called `tables`, so a plain import finds one only)."""
    path = Path(__file__).parent.parent / session / "tables.py"
    sys.path.insert(0, str(path.parent))  # session 7's imports session 3's by name
    spec = importlib.util.spec_from_file_location(f"{session}_tables", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


merged = _script("session3").merged  # merges reports, dropping and renaming systems
candidates_against_default = _script("session7").candidates_against_default  # paired gaps to a default
session8 = _script("session8")

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
    merged(S9 / "seen", [(S8 / "seen", (), {}), *[(S9 / f"seen-{name}", (), {}) for name in names]])
    own = [f"t2l:{name}@train" for name in ("margin3", "soup2", *names)]
    session8.worst_tasks_against_base(S9 / "validation", own + [s.replace("@train", "@definition") for s in own])
    for folder in (S9 / "validation", S9 / "seen"):
        print("seed spread (each seed minus margin3, seed 45):")
        candidates_against_default(folder, SEEDS, default="margin3")
        print("the rule (each candidate minus the shipped soup2):")
        candidates_against_default(folder, CANDIDATES, default="soup2")
        session8.default_against_multitask(folder, ("t2l:soup2@train", *[f"t2l:{n}@train" for n in CANDIDATES]))
