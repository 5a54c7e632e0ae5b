"""Report files of one run: `results.json` (every number and answer), `results.md` (tables), `scores.png` (plot).

`results.json` and `results.md` depend only on the inputs, so two runs of the same command write identical files;
wall times go to `timing.json` instead. `read_report` reads such a folder back and `merge_reports` puts the systems
of several runs over the same tasks side by side (`t2l eval-merge`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .conditioning import conditioning_lines
from .harness import EvalReport, TaskInfo

# TaskInfo fields that older reports lack (None): merging compares them only among the runs that recorded them
OPTIONAL_TASK_FIELDS = ("reference_words",)

METRICS = {"rouge_l": "ROUGE-L", "exact_match": "Exact match", "mc_accuracy": "Multiple-choice accuracy"}

# Config keys merged runs may differ in: `keep_predictions` only decides what is stored. `batch_size` is compared:
# `generate_answers` and `option_log_likelihoods` sort prompts by length and left-pad each batch, so another batch
# size gives other padded widths and matmul shapes. The attention mask makes padding exact in theory, but the
# floating-point sums are not bit-identical across shapes (kernels, bf16, GPUs), and a greedy token or a choice's
# argmax can flip on a near tie: runs with different --batch-size are not one evaluation.
MERGE_IGNORED_CONFIG_KEYS = ("keep_predictions",)


@dataclass
class ReportFiles:
    """Paths of the files `write_report` wrote."""

    json: Path
    markdown: Path
    plot: Path
    timing: Path


def write_report(
    report: EvalReport,
    out_dir: str | Path,
    *,
    command: str | Sequence[str] | None = None,
    overwrite: bool = True,
) -> ReportFiles:
    """Write the JSON, the markdown tables, the per-task plot and the timings of `report` into `out_dir`.

    The folder is written whole or not at all (a temporary sibling renamed into place, with a lock against a second
    writer), and an existing folder is replaced only if it holds an earlier report.

    Args:
        report: the evaluation result.
        out_dir: folder to write (created if needed).
        command: the command line that produced it, quoted in both reports; for a merged report, the list of the
            source runs' commands (stored as a list in `results.json`, one line each in `results.md`).
        overwrite: replace an existing report folder (`t2l eval` passes its `--overwrite`).

    Example:
        ```python
        >>> files = write_report(report, "docs/results", command="t2l eval --base --tasks ...")
        ```
    """
    from ..safe_io import write_folder

    out = Path(out_dir)
    stored = command if command is None or isinstance(command, str) else list(command)
    with write_folder(out, overwrite=overwrite, what="evaluation report", replaceable=is_report_folder) as tmp:
        (tmp / "results.json").write_text(
            json.dumps({"command": stored, **report.to_dict()}, indent=1, ensure_ascii=False) + "\n"
        )
        (tmp / "results.md").write_text(markdown_tables(report, command=command))
        plot_scores(report, tmp / "scores.png")
        (tmp / "timing.json").write_text(json.dumps({"seconds_per_system": report.seconds}, indent=1) + "\n")
    return ReportFiles(out / "results.json", out / "results.md", out / "scores.png", out / "timing.json")


def is_report_folder(folder: Path) -> bool:
    """Whether `folder` holds a report `write_report` wrote (so replacing it loses nothing else)."""
    return (folder / "results.json").is_file()


def markdown_tables(report: EvalReport, *, command: str | Sequence[str] | None = None) -> str:
    """One table per metric: tasks as rows, systems as columns, the mean over tasks last.

    Args:
        report: the evaluation result.
        command: the command line quoted above the tables, or several (a merged report), one per line.

    Example:
        ```python
        >>> print(markdown_tables(report))
        ```
    """
    systems = list(report.results)
    lines = ["# Evaluation results", ""]
    commands = [command] if isinstance(command, str) else list(command or [])
    if any(commands):
        lines += ["```", *[c for c in commands if c], "```", ""]
    cfg = report.config
    lines += [
        f"{len(report.tasks)} tasks, {sum(t.num_instances for t in report.tasks.values())} instances; greedy decoding, "
        f"max_new_tokens {cfg['max_new_tokens']} (per task: longest reference + margin), "
        f"{cfg['num_descriptions']} description(s) per task. Scores in %.",
        "",
    ]
    lines += conditioning_lines(report)  # the headline: does the description do the work?
    for metric, title in METRICS.items():
        rows = [t for t in report.tasks if any(_cell(report, s, t, metric) != "–" for s in systems)]
        if not rows:
            continue
        lines += [f"## {title}", "", "| task | " + " | ".join(systems) + " |", "|---" * (len(systems) + 1) + "|"]
        lines += [f"| {t} | " + " | ".join(_cell(report, s, t, metric) for s in systems) + " |" for t in rows]
        means = [report.mean(s, metric) for s in systems]
        lines += ["| **mean** | " + " | ".join("–" if m is None else f"**{m:.1f}**" for m in means) + " |", ""]
    lines += answer_length_lines(report)
    lines += _oracle_gain_lines(report)
    systems_line = ", ".join(f"`{name}` ({spec['kind']}{_source(spec)})" for name, spec in report.systems.items())
    lines += [f"Systems: {systems_line}.", ""]
    if report.truncated_prompts:
        lines += [f"{report.truncated_prompts} prompts were cut to max_prompt_tokens (kept their end).", ""]
    return "\n".join(lines)


def answer_words(report: EvalReport, system: str, task: str) -> float | None:
    """Mean words per generated answer of `system` on `task`, over every description; None without predictions."""
    result = report.results[system].get(task)
    answers = [a for group in result.predictions for a in group] if result is not None else []
    return sum(len(a.split()) for a in answers) / len(answers) if answers else None


def length_slope(report: EvalReport, system: str) -> float | None:
    """Least-squares slope across tasks of log(1 + words) of `system`'s answers on log(1 + words) of the references.

    About 1 when answer length follows the task (a one-word label here, a sentence there), about 0 when an adapter
    answers every task at one length whatever its description says. None with fewer than 2 tasks that have both, or
    references all of one length.
    """
    pairs = [
        (math.log1p(info.reference_words), math.log1p(words))
        for task, info in report.tasks.items()
        if info.reference_words is not None and (words := answer_words(report, system, task)) is not None
    ]
    if len(pairs) < 2:
        return None
    mx, my = sum(x for x, _ in pairs) / len(pairs), sum(y for _, y in pairs) / len(pairs)
    sxx = sum((x - mx) ** 2 for x, _ in pairs)
    return sum((x - mx) * (y - my) for x, y in pairs) / sxx if sxx > 0 else None


def answer_length_lines(report: EvalReport) -> list[str]:
    """The markdown section on answer length: words per answer against the reference, per task and system.

    The failure it shows: an adapter that helps by answering briefly whatever the description says has short
    answers on every task, including those whose references are sentences.
    """
    systems = [s for s in report.results if any(answer_words(report, s, t) is not None for t in report.tasks)]
    if not systems:
        return []
    has_reference = any(info.reference_words is not None for info in report.tasks.values())
    columns = (["reference"] if has_reference else []) + systems
    lines = ["## Answer length (mean words per answer)", ""]
    if has_reference:
        lines += [
            "`reference`: the first reference answer. Last row: how far answer length follows the task, the slope "
            "across tasks of log(1 + words) on the reference's (1: answers grow with what the task asks; 0: every "
            "task answered at one length, whatever the description).",
            "",
        ]
    lines += [
        "| task | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for task, info in report.tasks.items():
        cells = [_number(info.reference_words)] if has_reference else []
        cells += [_number(answer_words(report, s, task)) for s in systems]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    if has_reference:
        slopes = [length_slope(report, s) for s in systems]
        lines.append("| **slope on the reference** | – | " + " | ".join(_number(v, 2) for v in slopes) + " |")
    return lines + [""]


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def oracle_gain_share(report: EvalReport, metric: str = "rouge_l") -> dict[str, float] | None:
    """Each system's gain over the base model as a share of the oracle LoRAs' gain, on the tasks the oracle has.

    share = (mean system - mean base) / (mean oracle - mean base), all means over the same tasks (those with an oracle
    result). 1.0 recovers the oracle's whole gain; the issue's bar for a reconstruction T2L is 0.95.

    Args:
        report: a report with one `base` system and one `oracle` system (by kind).
        metric: "rouge_l", "exact_match" or "mc_accuracy".

    Returns:
        `{system: share}` for every system other than the base and the oracle, or `None` when the report lacks a base
        or an oracle system, or the oracle does not beat the base (no gain to share).

    Example:
        ```python
        >>> oracle_gain_share(report)["t2l:recon@train"]
        0.97
        ```
    """
    kinds = {name: spec.get("kind") for name, spec in report.systems.items()}
    base = [n for n, k in kinds.items() if k == "base"]
    oracle = [n for n, k in kinds.items() if k == "oracle"]
    if len(base) != 1 or len(oracle) != 1:
        return None
    tasks = [t for t, r in report.results[oracle[0]].items() if getattr(r, metric) is not None]

    def mean(system: str) -> float | None:
        values = [getattr(report.results[system].get(t), metric, None) for t in tasks]
        return None if not tasks or None in values else sum(values) / len(values)

    base_mean, oracle_mean = mean(base[0]), mean(oracle[0])
    if base_mean is None or oracle_mean is None or oracle_mean <= base_mean:
        return None
    shares = {}
    for system in report.results:
        value = None if system in (base[0], oracle[0]) else mean(system)
        if value is not None:
            shares[system] = round((value - base_mean) / (oracle_mean - base_mean), 3)
    return shares


def _oracle_gain_lines(report: EvalReport) -> list[str]:
    shares = {title: oracle_gain_share(report, metric) for metric, title in METRICS.items()}
    shares = {title: values for title, values in shares.items() if values}
    if not shares:
        return []
    header = [s for s in report.results if any(s in values for values in shares.values())]
    return [
        "## Share of the oracle LoRAs' gain over the base model",
        "",
        "(mean system - mean base) / (mean oracle - mean base), over the tasks that have an oracle LoRA.",
        "",
        "| metric | " + " | ".join(header) + " |",
        "|---" * (len(header) + 1) + "|",
        *[
            f"| {title} | " + " | ".join(f"{values[s]:.2f}" if s in values else "–" for s in header) + " |"
            for title, values in shares.items()
        ],
        "",
    ]


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


def read_report(folder: str | Path) -> tuple[EvalReport, str | list[str] | None]:
    """Read back the `--out` folder of a `t2l eval` (or `t2l eval-merge`) run.

    Args:
        folder: the folder holding `results.json`; `timing.json` is optional.

    Returns:
        The report (its `seconds` filled from `timing.json`, empty without it) and the command stored with it (a
        string, a list of strings for a merged report, or `None`).

    Raises:
        ValueError: the folder or its `results.json` is missing, or the file is not an evaluation report.

    Example:
        ```python
        >>> report, command = read_report("runs/eval-base")
        ```
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder; pass the --out folder of a t2l eval run.")
    path = folder / "results.json"
    if not path.is_file():
        raise ValueError(f"{folder} has no results.json; pass the --out folder of a finished t2l eval run.")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); rerun the evaluation that wrote it.") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not an evaluation report (a JSON object); pass a t2l eval --out folder.")
    try:
        report = EvalReport.from_dict(data)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    timing = folder / "timing.json"
    if timing.is_file():
        try:
            report.seconds = dict(json.loads(timing.read_text()).get("seconds_per_system") or {})
        except (AttributeError, TypeError, ValueError) as err:  # bad JSON, or not {"seconds_per_system": {...}}
            raise ValueError(
                f"{timing} is not a t2l eval timing file ({err}); delete it to merge without timings."
            ) from err
    return report, data.get("command")


def merge_reports(reports: Sequence[EvalReport], *, names: Sequence[str] | None = None) -> EvalReport:
    """Put the systems of several runs over the same tasks side by side, as one run of all of them would.

    The runs must have evaluated the same thing: the same tasks, the same `TaskInfo` per task (instances, generation
    budget, label set) and the same config, except `keep_predictions` (the merged config keeps predictions only if
    every run did). Systems are concatenated in input order; a system name in two runs is kept once if its spec and
    results are identical, and is an error otherwise. `truncated_prompts` is the sum: the harness counts every cut
    prompt once per system pass, so a single run of all systems reports the sum of the runs' counts (an identical
    duplicate system dropped here still counts in both, so the sum is then an upper bound). `seconds`: the union.

    Args:
        reports: the reports to merge, at least two.
        names: what the error messages call each report (e.g. its folder); default "report 0", "report 1", ...

    Raises:
        ValueError: fewer than two reports, or two runs that differ in tasks, task info, config or a shared system.

    Example:
        ```python
        >>> merged = merge_reports([read_report(d)[0] for d in ("runs/eval-a", "runs/eval-b")])
        >>> write_report(merged, "runs/eval", command=["t2l eval ... --out runs/eval-a", "t2l eval ... -b"])
        ```
    """
    reports = list(reports)
    names = [f"report {i}" for i in range(len(reports))] if names is None else [str(n) for n in names]
    if len(reports) < 2:
        raise ValueError(
            f"merging needs at least two reports; got {len(reports)}. Pass every run to put side by side."
        )
    if len(names) != len(reports):
        raise ValueError(f"got {len(names)} names for {len(reports)} reports; pass one name per report.")
    first, first_name = reports[0], names[0]
    for report, name in zip(reports[1:], names[1:]):
        _check_same_evaluation(first, first_name, report, name)
    merged = EvalReport(
        config={**first.config, "keep_predictions": all(r.config.get("keep_predictions", True) for r in reports)},
        tasks={task: _known_task_info(task, [r.tasks[task] for r in reports], names) for task in first.tasks},
        systems={},
        results={},
        truncated_prompts=sum(r.truncated_prompts for r in reports),
    )
    owner: dict[str, str] = {}
    for report, name in zip(reports, names):
        for system, per_task in report.results.items():
            spec = report.systems.get(system, {})
            if system in owner:
                if merged.systems[system] != spec or _result_dicts(merged.results[system]) != _result_dicts(per_task):
                    raise ValueError(
                        f"system {system!r} is in {owner[system]} and {name} with different "
                        f"{'specs' if merged.systems[system] != spec else 'results'}; give the runs different "
                        "system names (e.g. --t2l NAME=DIR) or leave one of them out."
                    )
                continue  # the same system evaluated twice with the same results: keep one column
            owner[system] = name
            merged.systems[system] = spec
            merged.results[system] = per_task
            if system in report.seconds:
                merged.seconds[system] = report.seconds[system]
    return merged


def _check_same_evaluation(a: EvalReport, a_name: str, b: EvalReport, b_name: str) -> None:
    """Raise a ValueError naming both runs and the first field where they evaluated different things."""
    if set(a.tasks) != set(b.tasks):
        raise ValueError(
            f"{a_name} and {b_name} differ in tasks: only in {a_name}: {sorted(set(a.tasks) - set(b.tasks))}, "
            f"only in {b_name}: {sorted(set(b.tasks) - set(a.tasks))}; merge runs over the same --tasks/--task-names."
        )
    for task, info in a.tasks.items():
        mine, theirs = asdict(info), asdict(b.tasks[task])
        for key in mine.keys() | theirs.keys():
            if key in OPTIONAL_TASK_FIELDS:
                continue  # older reports lack it: compared by _known_task_info among the runs that recorded it
            if mine.get(key) != theirs.get(key):
                raise ValueError(
                    f"{a_name} and {b_name} differ in tasks[{task!r}].{key}: {mine.get(key)!r} vs "
                    f"{theirs.get(key)!r}; merge runs made with the same task files and options."
                )
    missing = "<missing>"
    for key in sorted((a.config.keys() | b.config.keys()) - set(MERGE_IGNORED_CONFIG_KEYS)):
        if a.config.get(key, missing) != b.config.get(key, missing):
            raise ValueError(
                f"{a_name} and {b_name} differ in config[{key!r}]: {a.config.get(key, missing)!r} vs "
                f"{b.config.get(key, missing)!r}; merge runs made with the same options (only --no-predictions may "
                "differ)."
            )


def _known_task_info(task: str, infos: list[TaskInfo], names: list[str]) -> TaskInfo:
    """The first run's task info with each field only some runs recorded taken from those that did (which agree)."""
    known = {}
    for key in OPTIONAL_TASK_FIELDS:
        recorded = [(name, getattr(info, key)) for name, info in zip(names, infos) if getattr(info, key) is not None]
        for name, value in recorded[1:]:  # the first run may lack it, so comparing with the first is not enough
            if value != recorded[0][1]:
                raise ValueError(
                    f"{recorded[0][0]} and {name} differ in tasks[{task!r}].{key}: {recorded[0][1]!r} vs {value!r}; "
                    "merge runs made with the same task files and options."
                )
        known[key] = recorded[0][1] if recorded else None
    return replace(infos[0], **known)


def _result_dicts(results: dict) -> dict:
    return {task: asdict(result) for task, result in results.items()}
