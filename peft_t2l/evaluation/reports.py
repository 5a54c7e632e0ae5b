"""Report files of one run: `results.json` (every number and answer), `results.md` (tables), `scores.png` (plot).

`results.json` and `results.md` depend only on the inputs, so two runs of the same command write identical files;
wall times go to `timing.json` instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .harness import EvalReport

METRICS = {"rouge_l": "ROUGE-L", "exact_match": "Exact match", "mc_accuracy": "Multiple-choice accuracy"}


@dataclass
class ReportFiles:
    """Paths of the files `write_report` wrote."""

    json: Path
    markdown: Path
    plot: Path
    timing: Path


def write_report(report: EvalReport, out_dir: str | Path, *, command: str | None = None) -> ReportFiles:
    """Write the JSON, the markdown tables, the per-task plot and the timings of `report` into `out_dir`.

    Args:
        report: the evaluation result.
        out_dir: folder to write (created if needed).
        command: the command line that produced it, quoted in both reports.

    Example:
        ```python
        >>> files = write_report(report, "docs/results", command="t2l eval --base --tasks ...")
        ```
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out / "results.json", out / "results.md", out / "scores.png", out / "timing.json")
    files.json.write_text(json.dumps({"command": command, **report.to_dict()}, indent=1, ensure_ascii=False) + "\n")
    files.markdown.write_text(markdown_tables(report, command=command))
    plot_scores(report, files.plot)
    files.timing.write_text(json.dumps({"seconds_per_system": report.seconds}, indent=1) + "\n")
    return files


def markdown_tables(report: EvalReport, *, command: str | None = None) -> str:
    """One table per metric: tasks as rows, systems as columns, the mean over tasks last.

    Example:
        ```python
        >>> print(markdown_tables(report))
        ```
    """
    systems = list(report.results)
    lines = ["# Evaluation results", ""]
    if command:
        lines += ["```", command, "```", ""]
    cfg = report.config
    lines += [
        f"{len(report.tasks)} tasks, {sum(t.num_instances for t in report.tasks.values())} instances; greedy decoding, "
        f"max_new_tokens {cfg['max_new_tokens']} (per task: longest reference + margin), "
        f"{cfg['num_descriptions']} description(s) per task. Scores in %.",
        "",
    ]
    for metric, title in METRICS.items():
        rows = [t for t in report.tasks if any(_cell(report, s, t, metric) != "–" for s in systems)]
        if not rows:
            continue
        lines += [f"## {title}", "", "| task | " + " | ".join(systems) + " |", "|---" * (len(systems) + 1) + "|"]
        lines += [f"| {t} | " + " | ".join(_cell(report, s, t, metric) for s in systems) + " |" for t in rows]
        means = [report.mean(s, metric) for s in systems]
        lines += ["| **mean** | " + " | ".join("–" if m is None else f"**{m:.1f}**" for m in means) + " |", ""]
    systems_line = ", ".join(f"`{name}` ({spec['kind']}{_source(spec)})" for name, spec in report.systems.items())
    lines += [f"Systems: {systems_line}.", ""]
    if report.truncated_prompts:
        lines += [f"{report.truncated_prompts} prompts were cut to max_prompt_tokens (kept their end).", ""]
    return "\n".join(lines)


def _cell(report: EvalReport, system: str, task: str, metric: str) -> str:
    result = report.results[system].get(task)
    value = None if result is None else getattr(result, metric)
    return "–" if value is None else f"{value:.1f}"


def _source(spec: dict) -> str:
    parts = [p for p in (spec.get("source"), spec.get("descriptions") and f"{spec['descriptions']} descriptions") if p]
    return f": {', '.join(parts)}" if parts else ""


def plot_scores(report: EvalReport, path: str | Path) -> Path:
    """A PNG of per-task scores per system: ROUGE-L for every task, and choice accuracy for multiple-choice tasks.

    Example:
        ```python
        >>> plot_scores(report, "scores.png")
        ```
    """
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    systems = list(report.results)
    panels = [m for m in ("rouge_l", "mc_accuracy") if any(report.mean(s, m) is not None for s in systems)]
    tasks = list(report.tasks)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(6 * len(panels), 1.2 + 0.35 * len(tasks) * max(1, len(systems)) ** 0.5), squeeze=False
    )
    height = 0.8 / len(systems)
    for ax, metric in zip(axes[0], panels):
        rows = [t for t in tasks if any(getattr(report.results[s].get(t), metric, None) is not None for s in systems)]
        for k, system in enumerate(systems):
            values = [_value(report, system, t, metric) for t in rows]
            ax.barh([i + k * height for i in range(len(rows))], values, height=height, label=system)
        ax.set_yticks([i + 0.4 - height / 2 for i in range(len(rows))], [t[:42] for t in rows], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel(f"{METRICS[metric]} (%)")
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})  # no version stamp: identical runs give identical files
    plt.close(fig)
    return Path(path)


def _value(report: EvalReport, system: str, task: str, metric: str) -> float:
    result = report.results[system].get(task)
    value = None if result is None else getattr(result, metric)
    return 0.0 if value is None else value
