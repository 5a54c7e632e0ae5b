"""`t2l eval`: compare systems on a task folder and write JSON, markdown and a plot. Parsing and checks only.

t2l eval --tasks /work/shared/data/sni/validation --base --base-with-description --out docs/results
t2l eval --tasks data/sni/train --holdout 8 --descriptions train heldout random --t2l sft=runs/sft --out runs/eval
t2l eval-merge --out runs/eval runs/eval-base runs/eval-t2l   # runs of different systems, side by side
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .systems import DESCRIPTION_MODES, SystemSpec, select_descriptions

EXIT_OK, EXIT_USAGE = 0, 2


def add_eval_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `eval` sub-command to a `t2l` parser.

    Args:
        subparsers: the result of `parser.add_subparsers()`.

    Example:
        ```python
        >>> sub = parser.add_subparsers(dest="command")
        >>> add_eval_parser(sub)
        ```
    """
    p = subparsers.add_parser("eval", help="evaluate base, multi-task, oracle and T2L adapters on tasks")
    p.add_argument("--tasks", required=True, help="folder of <task>.json files, one task file, or hf:<dataset id>")
    p.add_argument("--task-names", nargs="+", default=None, help="only these tasks (default: all in --tasks)")
    p.add_argument("--base-model", default=None, help="base LLM id or folder (default: SmolLM2-135M-Instruct)")
    g = p.add_argument_group("systems (at least one)")
    g.add_argument("--base", action="store_true", help="the base model, input only")
    g.add_argument("--base-with-description", action="store_true", help="the base model, description before input")
    g.add_argument("--multitask-lora", metavar="DIR", default=None, help="a multi-task PEFT LoRA folder")
    g.add_argument("--oracle-dir", metavar="DIR", default=None, help="folder with one PEFT LoRA folder per task name")
    g.add_argument("--t2l", metavar="NAME=DIR", action="append", default=[], help="a T2L model folder (repeatable)")
    d = p.add_argument_group("descriptions (for --base-with-description and --t2l)")
    d.add_argument("--descriptions", nargs="+", choices=DESCRIPTION_MODES, default=["train"],
                   help="which descriptions; each mode is its own column: train, heldout, definition, and the "
                        "controls random (another task's), unrelated (fixed descriptions of no evaluated task), "
                        "uninformative (T2L only: the zero task embedding). With a control and an own mode, "
                        "the report leads with the gap own - control and its bootstrap interval")  # fmt: skip
    d.add_argument("--num-descriptions", type=int, default=1, help="descriptions per task; scores are their mean")
    d.add_argument("--control-descriptions", type=int, default=None, metavar="N",
                   help="descriptions per task for the random and unrelated controls (default: --num-descriptions)")  # fmt: skip
    d.add_argument("--holdout", type=int, default=0,
                   help="move the last N training descriptions to heldout, as training's num_holdout_descriptions did")  # fmt: skip
    r = p.add_argument_group("run")
    r.add_argument("--max-instances", type=int, default=None, help="first N instances per task (default: all)")
    r.add_argument(
        "--holdout-instances",
        type=int,
        default=None,
        metavar="N",
        help="only the last N instances per task (at most half): those training's num_holdout_instances=N kept out",
    )
    r.add_argument(
        "--max-new-tokens", type=int, default=64, help="cap on answer tokens (per task: longest reference+8)"
    )
    r.add_argument("--batch-size", type=int, default=8, help="prompts per generate call")
    r.add_argument("--max-labels", type=int, default=10, help="largest label set scored as multiple choice")
    r.add_argument("--no-predictions", action="store_true", help="leave generated answers out of results.json")
    r.add_argument("--out", required=True, help="folder for results.json, results.md, scores.png, timing.json")
    p.set_defaults(func=cmd_eval)
    return p


def add_eval_merge_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `eval-merge` sub-command to a `t2l` parser: one report from several `t2l eval` runs.

    Args:
        subparsers: the result of `parser.add_subparsers()`.

    Example:
        ```python
        >>> sub = parser.add_subparsers(dest="command")
        >>> add_eval_merge_parser(sub)
        ```
    """
    p = subparsers.add_parser(
        "eval-merge", help="merge the reports of t2l eval runs of different systems on the same tasks"
    )
    p.add_argument("sources", nargs="+", metavar="SRC_DIR", help="--out folders of t2l eval runs (at least two)")
    p.add_argument(
        "--out", required=True, help="folder for the merged results.json, results.md, scores.png, timing.json"
    )
    p.set_defaults(func=cmd_eval_merge)
    return p


def cmd_eval_merge(args: argparse.Namespace) -> int:
    """Run `t2l eval-merge`; returns 0, or 2 with a message on stderr when an input is wrong."""
    try:
        return merge(args.sources, out=args.out)
    except ValueError as err:
        print(f"t2l eval-merge: error: {err}", file=sys.stderr)
        return EXIT_USAGE


def merge(sources: list[str], *, out: str) -> int:
    """Read the `t2l eval` folders `sources`, merge them (see `merge_reports`), write the reports; returns 0.

    The merged `results.json` stores the source commands as a list, in the order of `sources`.

    Example:
        ```python
        >>> merge(["runs/eval-base", "runs/eval-t2l"], out="runs/eval")
        ```
    """
    from .reports import merge_reports, read_report, write_report

    if len(sources) < 2:
        raise ValueError(
            f"got one SRC_DIR ({sources[0]}); pass at least two t2l eval --out folders, "
            "e.g. t2l eval-merge --out runs/eval runs/eval-a runs/eval-b."
        )
    resolved = [Path(s).resolve() for s in sources]
    for i, folder in enumerate(resolved):
        if folder in resolved[:i]:
            raise ValueError(f"SRC_DIR {sources[i]} is given twice; pass each run once.")
    if Path(out).resolve() in resolved:
        raise ValueError(f"--out {out} is also a SRC_DIR; write the merged report to a new folder.")
    runs = [read_report(source) for source in sources]
    merged = merge_reports([report for report, _ in runs], names=sources)
    commands = []
    for _, command in runs:  # a source may itself be a merged report, with a list of commands
        commands += command if isinstance(command, list) else [command] if command else []
    files = write_report(merged, out, command=commands)
    print(files.markdown.read_text())
    print(f"wrote {files.json}, {files.markdown}, {files.plot}")
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    """Run `t2l eval`; returns 0, or 2 with a message on stderr when an input is wrong."""
    try:
        specs = build_systems(
            base=args.base,
            base_with_description=args.base_with_description,
            multitask_lora=args.multitask_lora,
            oracle_dir=args.oracle_dir,
            t2l=args.t2l,
            descriptions=args.descriptions,
            control_descriptions=args.control_descriptions,
        )
        return run(
            specs,
            tasks=args.tasks,
            task_names=args.task_names,
            base_model=args.base_model,
            holdout=args.holdout,
            num_descriptions=args.num_descriptions,
            max_instances=args.max_instances,
            holdout_instances=args.holdout_instances or 0,
            max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size,
            max_labels=args.max_labels,
            keep_predictions=not args.no_predictions,
            out=args.out,
            command=_command_line(args),
        )
    except ValueError as err:
        print(f"t2l eval: error: {err}", file=sys.stderr)
        return EXIT_USAGE


def build_systems(
    *,
    base: bool,
    base_with_description: bool,
    multitask_lora: str | None,
    oracle_dir: str | None,
    t2l: list[str],
    descriptions: list[str],
    control_descriptions: int | None = None,
) -> list[SystemSpec]:
    """The columns a command asks for, checked before any model loads.

    Example:
        ```python
        >>> build_systems(base=True, base_with_description=False, multitask_lora=None, oracle_dir=None,
        ...               t2l=["sft=runs/sft"], descriptions=["train", "random"])
        ```
    """
    if control_descriptions is not None and control_descriptions < 1:
        raise ValueError(f"--control-descriptions {control_descriptions} must be at least 1.")

    def count(mode: str) -> int | None:
        return control_descriptions if mode in ("random", "unrelated") else None

    specs = [SystemSpec("base")] if base else []
    if base_with_description:  # no description in the prompt is the base system, so it skips 'uninformative'
        specs += [
            SystemSpec("base+description", descriptions=m, num_descriptions=count(m))
            for m in descriptions
            if m != "uninformative"
        ]
    if multitask_lora:
        if not (Path(multitask_lora) / "adapter_config.json").exists():
            raise ValueError(f"--multitask-lora {multitask_lora} has no adapter_config.json; pass a PEFT LoRA folder.")
        specs.append(SystemSpec("multitask", source=multitask_lora))
    if oracle_dir:
        if not Path(oracle_dir).is_dir():
            raise ValueError(f"--oracle-dir {oracle_dir} is not a folder; pass a folder of <task name>/ PEFT folders.")
        specs.append(SystemSpec("oracle", source=oracle_dir))
    for item in t2l:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise ValueError(f"--t2l {item!r} is not NAME=DIR; write e.g. --t2l sft=runs/sft/final.")
        if not (Path(folder) / "config.json").exists():
            raise ValueError(f"--t2l {item!r}: {folder} has no config.json; pass a saved T2L model folder.")
        specs += [
            SystemSpec("t2l", name=f"t2l:{name}@{m}", source=folder, descriptions=m, num_descriptions=count(m))
            for m in descriptions
        ]
    if not specs:
        raise ValueError(
            "no system to evaluate; pass at least one of --base, --base-with-description, --multitask-lora, "
            "--oracle-dir, --t2l NAME=DIR."
        )
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"system names repeat ({names}); give each --t2l a different NAME.")
    return specs


def run(
    specs: list[SystemSpec],
    *,
    tasks: str,
    task_names: list[str] | None,
    base_model: str | None,
    holdout: int,
    num_descriptions: int,
    max_instances: int | None,
    max_new_tokens: int,
    holdout_instances: int = 0,
    batch_size: int,
    max_labels: int,
    keep_predictions: bool,
    out: str,
    command: str | None = None,
) -> int:
    """Load tasks and the base model, evaluate `specs`, write the reports; returns the exit code.

    Example:
        ```python
        >>> run([SystemSpec("base")], tasks="/work/shared/data/sni/validation", task_names=None, base_model=None,
        ...     holdout=0, num_descriptions=1, max_instances=5, max_new_tokens=32, batch_size=8, max_labels=10,
        ...     keep_predictions=True, out="runs/eval")
        ```
    """
    from ..data import load_tasks
    from ..defaults import DEFAULT_BASE_MODEL, load_base_model
    from .harness import EvalConfig, evaluate
    from .reports import write_report

    if holdout < 0:
        raise ValueError(f"--holdout {holdout} is negative; use 0 or the N training held out.")
    config = EvalConfig(
        max_instances=max_instances,
        holdout_instances=holdout_instances,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        num_descriptions=num_descriptions,
        max_labels=max_labels,
        keep_predictions=keep_predictions,
    )
    loaded = [t.hold_out_descriptions(holdout) for t in load_tasks(tasks, names=task_names)]
    for mode in sorted({s.descriptions for s in specs if s.reads_descriptions}):
        select_descriptions(
            loaded, mode, count=num_descriptions
        )  # fail on missing descriptions before loading a model
    model, tokenizer = load_base_model(base_model or DEFAULT_BASE_MODEL)
    report = evaluate(specs, loaded, model=model, tokenizer=tokenizer, config=config)
    files = write_report(report, out, command=command)
    print(files.markdown.read_text())
    print(f"wrote {files.json}, {files.markdown}, {files.plot}")
    return EXIT_OK


def _command_line(args: argparse.Namespace) -> str:
    """The command in a canonical form (same options, same string), for the reports."""
    values = vars(args)
    parts = ["t2l", "eval", "--tasks", values["tasks"]]
    for flag in ("base", "base_with_description", "no_predictions"):
        if values[flag]:
            parts.append("--" + flag.replace("_", "-"))
    for option in ("task_names", "descriptions"):
        if values[option]:
            parts += ["--" + option.replace("_", "-"), *values[option]]
    for option in ("base_model", "multitask_lora", "oracle_dir", "num_descriptions", "control_descriptions", "holdout",
                   "max_instances", "holdout_instances", "max_new_tokens", "batch_size", "max_labels", "out"):  # fmt: skip
        if values[option] is not None:
            parts += ["--" + option.replace("_", "-"), str(values[option])]
    for item in values["t2l"]:
        parts += ["--t2l", item]
    return shlex.join(parts)
