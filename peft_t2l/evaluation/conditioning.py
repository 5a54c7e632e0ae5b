"""Does the description do the work? Own-description scores minus controls, with paired bootstrap intervals.

A T2L system evaluated with its tasks' own descriptions (`t2l:NAME@train`, `@heldout` or `@definition`) is compared
with the same model given a control instead (`@random`: another task's description, `@unrelated`: a description of
no evaluated task, `@uninformative`: the zero task embedding), and with the base model. The gap is in ROUGE-L points,
per task and as the mean over tasks (each task weighs the same, as in the score tables). Its interval resamples the
instances of every task with replacement, the two systems' scores of an instance staying paired, so the interval
reflects which inputs happened to be evaluated, not the tasks' selection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .harness import EvalReport
from .systems import CONTROL_MODES

OWN_MODES = ("train", "heldout", "definition")


@dataclass(frozen=True)
class Gap:
    """A difference of mean ROUGE-L (points) with its paired-bootstrap interval.

    Args:
        value: the observed difference.
        low: lower end of the interval.
        high: upper end of the interval.
    """

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:+.1f} [{self.low:+.1f}, {self.high:+.1f}]"


@dataclass(frozen=True)
class PairedGap:
    """System minus reference over the tasks both have per-instance scores for.

    Args:
        system: the column whose score comes first (e.g. `t2l:sft@train`).
        reference: the column subtracted (e.g. `t2l:sft@random` or `base`).
        mean: the gap of the means over tasks.
        per_task: task -> its gap.
    """

    system: str
    reference: str
    mean: Gap
    per_task: dict[str, Gap]

    @property
    def tasks_ahead(self) -> int:
        """Tasks on which the system scores higher than the reference."""
        return sum(g.value > 0 for g in self.per_task.values())


def paired_gap(
    report: EvalReport,
    system: str,
    reference: str,
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedGap | None:
    """`system` minus `reference` in ROUGE-L points, per task and in the mean, with paired bootstrap intervals.

    Args:
        report: an evaluation report whose two columns store `instance_rouge_l`.
        system: the column whose scores come first.
        reference: the column subtracted.
        resamples: bootstrap resamples (the interval is deterministic for a given seed).
        confidence: the interval's coverage, e.g. 0.95.
        seed: seed of the resampling.

    Returns:
        The gap, or `None` when the two columns share no task with per-instance scores (reports written before
        per-instance scores were stored).

    Example:
        ```python
        >>> print(paired_gap(report, "t2l:sft@train", "t2l:sft@random").mean)  # +5.2 [+3.1, +7.4]
        ```
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence} must be in (0, 1), e.g. 0.95.")
    if resamples < 1:
        raise ValueError(f"resamples={resamples} must be at least 1, e.g. 2000.")
    for name in (system, reference):
        if name not in report.results:
            raise ValueError(f"{name!r} is not a system of this report; use one of {sorted(report.results)}.")
    diffs = {}
    for task, mine in report.results[system].items():
        theirs = report.results[reference].get(task)
        if theirs is None or not mine.instance_rouge_l or len(mine.instance_rouge_l) != len(theirs.instance_rouge_l):
            continue
        diffs[task] = np.asarray(mine.instance_rouge_l) - np.asarray(theirs.instance_rouge_l)  # [n_task]
    if not diffs:
        return None
    rng = np.random.default_rng(seed)
    tail = 100.0 * (1.0 - confidence) / 2.0
    per_task, boot_means = {}, []
    for task, d in diffs.items():
        picks = rng.integers(0, len(d), size=(resamples, len(d)))  # [R, n_task]
        boot = d[picks].mean(axis=1)  # [R]
        boot_means.append(boot)
        low, high = np.percentile(boot, [tail, 100.0 - tail])
        per_task[task] = Gap(round(float(d.mean()), 2), round(float(low), 2), round(float(high), 2))
    overall = np.mean(boot_means, axis=0)  # [R]: each task weighs the same
    low, high = np.percentile(overall, [tail, 100.0 - tail])
    mean = float(np.mean([d.mean() for d in diffs.values()]))
    return PairedGap(system, reference, Gap(round(mean, 2), round(float(low), 2), round(float(high), 2)), per_task)


def conditioning_gaps(report: EvalReport, **kwargs) -> list[PairedGap]:
    """For every T2L model in the report: its own-description column minus each control column and minus `base`.

    T2L columns are grouped by their model (`source`); own-description modes are `OWN_MODES`, controls
    `CONTROL_MODES` (see `select_descriptions`). Pairs without per-instance scores are left out.

    Args:
        report: an evaluation report.
        **kwargs: `resamples`, `confidence`, `seed` of `paired_gap`.

    Example:
        ```python
        >>> for gap in conditioning_gaps(report):
        ...     print(gap.system, "-", gap.reference, gap.mean)
        ```
    """
    by_model: dict[str, dict[str, str]] = {}
    for name, spec in report.systems.items():
        if spec.get("kind") == "t2l" and name in report.results:
            by_model.setdefault(str(spec.get("source")), {})[spec.get("descriptions")] = name
    bases = [n for n, spec in report.systems.items() if spec.get("kind") == "base" and n in report.results]
    gaps = []
    for modes in by_model.values():
        for own in OWN_MODES:
            if own not in modes:
                continue
            references = [modes[c] for c in CONTROL_MODES if c in modes] + bases
            for reference in references:
                gap = paired_gap(report, modes[own], reference, **kwargs)
                if gap is not None:
                    gaps.append(gap)
    return gaps


def conditioning_lines(report: EvalReport) -> list[str]:
    """The markdown section that leads a report with T2L columns: mean gaps first, then per task."""
    gaps = conditioning_gaps(report)
    if not gaps:
        return []
    lines = [
        "## Conditioning: own description minus controls (ROUGE-L points)",
        "",
        "Mean over tasks of (own description - control), with a 95 % paired bootstrap interval over instances "
        "(2,000 resamples). `@random`: another task's description; `@unrelated`: a description of no evaluated task; "
        "`@uninformative`: the zero task embedding; `base`: no adapter.",
        "",
        "| own description | minus | gap [95 % CI] | tasks ahead |",
        "|---|---|---|---|",
    ]
    lines += [f"| {g.system} | {g.reference} | **{g.mean}** | {g.tasks_ahead}/{len(g.per_task)} |" for g in gaps]
    tasks = sorted({t for g in gaps for t in g.per_task})
    lines += [
        "",
        "Per task (gap [95 % CI]):",
        "",
        "| task | " + " | ".join(f"{g.system} - {g.reference}" for g in gaps) + " |",
    ]
    lines += ["|---" * (len(gaps) + 1) + "|"]
    for task in tasks:
        cells = [str(g.per_task[task]) if task in g.per_task else "–" for g in gaps]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return lines + [""]
