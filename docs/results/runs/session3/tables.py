"""Merge session 3's evaluation runs (and the session-2 runs of systems that did not change) into the result tables.

    .venv/bin/python docs/results/runs/session3/tables.py

Session 2's `base+description` and oracle columns are reused as they are (same base model, tasks, prompts and
options; `t2l eval-merge` checks that). Its `base` and `multitask` columns are dropped: `base` was re-run with
per-instance scores (for the bootstrap), and `multitask` is now the LoRA trained on the same data and steps as the T2L.
"""

from __future__ import annotations

from pathlib import Path

from peft_t2l.evaluation import merge_reports, read_report, write_report

S2, S3 = Path("docs/results/s2"), Path("docs/results/s3")


def load(folder: Path, *, drop: tuple[str, ...] = (), rename: dict[str, str] | None = None):
    report, command = read_report(folder)
    for old, new in (rename or {}).items():  # two runs that call different systems by one name (session 8)
        for table in (report.results, report.systems, report.seconds):
            if old in table:
                table[new] = table.pop(old)
    # an entry ending in ":" drops every system whose name starts with it (e.g. "t2l:")
    for name in [s for s in report.results if s in drop or any(d.endswith(":") and s.startswith(d) for d in drop)]:
        report.results.pop(name)
        report.systems.pop(name, None)
        report.seconds.pop(name, None)
    return report, command


def merged(out: Path, sources: list[tuple]) -> None:
    """Each source is (folder, systems to drop) or (folder, systems to drop, {old name: new name})."""
    sources = [s for s in sources if (s[0] / "results.json").is_file()]
    runs = [(s[0], *load(s[0], drop=s[1], rename=s[2] if len(s) > 2 else None)) for s in sources]
    commands = []
    for _, _, command in runs:
        commands += command if isinstance(command, list) else [command]
    report = merge_reports([r for _, r, _ in runs], names=[str(f) for f, _, _ in runs])
    write_report(report, out, command=commands, overwrite=True)
    print(f"{out}: {', '.join(report.results)}")


if __name__ == "__main__":
    merged(
        S3 / "validation",
        [
            (S3 / "validation-base", ()),
            (S2 / "validation-a", ("base", "multitask")),
            (S3 / "validation-margin", ()),
            (S3 / "validation-plain", ()),
            (S3 / "validation-old", ()),
        ],
    )
    merged(
        S3 / "seen",
        [
            (S2 / "seen-a", ("multitask", "t2l:")),
            (S3 / "seen-mt", ()),
            (S3 / "seen-plain", ()),
        ],
    )
