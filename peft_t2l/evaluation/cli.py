"""`t2l eval`: compare systems on a task folder and write JSON, markdown and a plot. Parsing and checks only.

t2l eval --tasks /work/shared/data/sni/validation --base --base-with-description --out docs/results
t2l eval --tasks data/sni/train --holdout 8 --descriptions train heldout random --t2l sft=runs/sft --out runs/eval
t2l eval-merge --out runs/eval runs/eval-base runs/eval-t2l   # runs of different systems, side by side
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from ..options import add_options, options_from_args
from ..safe_io import check_output_folder
from .reports import is_report_folder
from .systems import DESCRIPTION_MODES, SystemSpec, select_descriptions

if TYPE_CHECKING:
    from .harness import EvalConfig

EXIT_OK, EXIT_USAGE = 0, 2


@dataclass(kw_only=True)
class EvalOptions:
    """Everything `t2l eval` is told, from the command line to the report: one object, parsed once.

    The `t2l eval` parser is built from these fields (`peft_t2l.options.add_options` reads their `help`, `group`,
    `choices`, `append` and `required` metadata), and `command_line()` writes them back in a canonical order, so a
    report's command reruns the evaluation.

    Example:
        ```python
        >>> options = EvalOptions(tasks="../shared/data/sni/validation", base=True, out="runs/eval-base")
        >>> run(options)
        ```
    """

    tasks: str = field(metadata={"help": "folder of <task>.json files, one task file, or hf:<dataset id>"})
    task_names: list[str] | None = field(default=None, metadata={"help": "only these tasks (default: all)"})
    base_model: str | None = field(
        default=None, metadata={"help": "base LLM id or folder (default: SmolLM2-135M-Instruct)"}
    )
    base: bool = field(default=False, metadata={"group": "systems", "help": "the base model, input only"})
    base_with_description: bool = field(
        default=False, metadata={"group": "systems", "help": "the base model, description before input"}
    )
    multitask_lora: str | None = field(
        default=None, metadata={"group": "systems", "help": "a multi-task PEFT LoRA folder", "metavar": "DIR"}
    )
    oracle_dir: str | None = field(
        default=None,
        metadata={"group": "systems", "help": "folder with one PEFT LoRA folder per task name", "metavar": "DIR"},
    )
    t2l: list[str] = field(
        default_factory=list,
        metadata={"group": "systems", "help": "a T2L model folder (repeatable)", "metavar": "NAME=DIR", "append": 1},
    )
    descriptions: list[str] = field(
        default_factory=lambda: ["train"],
        metadata={
            "group": "descriptions",
            "choices": DESCRIPTION_MODES,
            "help": "which descriptions; each mode is its own column: train, heldout, definition, and the controls "
            "random (another task's), unrelated (fixed descriptions of no evaluated task), uninformative (T2L only: "
            "the zero task embedding). With an own mode and a control, the report leads with the gap own - control "
            "and its bootstrap interval",
        },
    )
    num_descriptions: int = field(
        default=1, metadata={"group": "descriptions", "help": "descriptions per task; scores are their mean"}
    )
    control_descriptions: int | None = field(
        default=None,
        metadata={
            "group": "descriptions",
            "metavar": "N",
            "help": "descriptions per task for the random and unrelated controls (default: --num-descriptions)",
        },
    )
    holdout: int = field(
        default=0,
        metadata={
            "group": "descriptions",
            "help": "move the last N training descriptions to heldout, as training's num_holdout_descriptions did",
        },
    )
    max_instances: int | None = field(
        default=None, metadata={"group": "run", "help": "first N instances per task (default: all)"}
    )
    holdout_instances: int | None = field(
        default=None,
        metadata={
            "group": "run",
            "metavar": "N",
            "help": "only the last N instances per task (at most half): those training's num_holdout_instances=N "
            "kept out",
        },
    )
    max_new_tokens: int = field(
        default=64, metadata={"group": "run", "help": "cap on answer tokens (per task: longest reference+8)"}
    )
    batch_size: int = field(default=8, metadata={"group": "run", "help": "prompts per generate call"})
    max_labels: int = field(
        default=10, metadata={"group": "run", "help": "largest label set scored as multiple choice"}
    )
    no_predictions: bool = field(
        default=False, metadata={"group": "run", "help": "leave generated answers out of results.json"}
    )
    out: str = field(
        default="",  # Python callers may leave it empty (no report written by them); the command line must name it
        metadata={
            "group": "run",
            "required": True,
            "help": "folder for results.json, results.md, scores.png, timing.json",
        },
    )
    overwrite: bool = field(
        default=False, metadata={"group": "run", "help": "replace an existing report folder at --out"}
    )

    def systems(self) -> list[SystemSpec]:
        """The columns asked for, checked before any model loads."""
        if self.control_descriptions is not None and self.control_descriptions < 1:
            raise ValueError(f"--control-descriptions {self.control_descriptions} must be at least 1.")

        def count(mode: str) -> int | None:
            return self.control_descriptions if mode in ("random", "unrelated") else None

        specs = [SystemSpec("base")] if self.base else []
        if self.base_with_description:  # no description in the prompt is the base system: it skips 'uninformative'
            specs += [
                SystemSpec("base+description", descriptions=m, num_descriptions=count(m))
                for m in self.descriptions
                if m != "uninformative"
            ]
        if self.multitask_lora:
            if not (Path(self.multitask_lora) / "adapter_config.json").exists():
                raise ValueError(
                    f"--multitask-lora {self.multitask_lora} has no adapter_config.json; pass a PEFT LoRA folder."
                )
            specs.append(SystemSpec("multitask", source=self.multitask_lora))
        if self.oracle_dir:
            if not Path(self.oracle_dir).is_dir():
                raise ValueError(
                    f"--oracle-dir {self.oracle_dir} is not a folder; pass a folder of <task name>/ PEFT folders."
                )
            specs.append(SystemSpec("oracle", source=self.oracle_dir))
        for item in self.t2l:
            name, sep, folder = item.partition("=")
            if not sep or not name or not folder:
                raise ValueError(f"--t2l {item!r} is not NAME=DIR; write e.g. --t2l sft=runs/sft/final.")
            if not (Path(folder) / "config.json").exists():
                raise ValueError(f"--t2l {item!r}: {folder} has no config.json; pass a saved T2L model folder.")
            specs += [
                SystemSpec("t2l", name=f"t2l:{name}@{m}", source=folder, descriptions=m, num_descriptions=count(m))
                for m in self.descriptions
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

    def eval_config(self) -> EvalConfig:
        """The harness settings these options ask for."""
        from .harness import EvalConfig

        return EvalConfig(
            max_instances=self.max_instances,
            holdout_instances=self.holdout_instances or 0,
            max_new_tokens=self.max_new_tokens,
            batch_size=self.batch_size,
            num_descriptions=self.num_descriptions,
            max_labels=self.max_labels,
            keep_predictions=not self.no_predictions,
        )

    def command_line(self) -> str:
        """The command in a canonical form (same options, same string), for the reports."""
        parts = ["t2l", "eval", "--tasks", self.tasks]
        for f in fields(self):
            value = getattr(self, f.name)
            flag = "--" + f.name.replace("_", "-")
            if f.name == "tasks" or value is None or value is False or value == []:
                continue
            if value is True:
                parts.append(flag)
            elif f.metadata.get("append"):
                for item in value:
                    parts += [flag, item]
            elif isinstance(value, list):
                parts += [flag, *value]
            else:
                parts += [flag, str(value)]
        return shlex.join(parts)


def add_eval_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `eval` sub-command to a `t2l` parser, with one option per `EvalOptions` field.

    Args:
        subparsers: the result of `parser.add_subparsers()`.

    Example:
        ```python
        >>> sub = parser.add_subparsers(dest="command")
        >>> add_eval_parser(sub)
        ```
    """
    p = subparsers.add_parser("eval", help="evaluate base, multi-task, oracle and T2L adapters on tasks")
    groups = {
        None: p,
        "systems": p.add_argument_group("systems (at least one)"),
        "descriptions": p.add_argument_group("descriptions (for --base-with-description and --t2l)"),
        "run": p.add_argument_group("run"),
    }
    add_options(p, EvalOptions, groups=groups)
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
    p.add_argument("--overwrite", action="store_true", help="replace an existing report folder at --out")
    p.set_defaults(func=cmd_eval_merge)
    return p


def cmd_eval_merge(args: argparse.Namespace) -> int:
    """Run `t2l eval-merge`; returns 0, or 2 with a message on stderr when an input is wrong."""
    try:
        return merge(args.sources, out=args.out, overwrite=args.overwrite)
    except ValueError as err:
        print(f"t2l eval-merge: error: {err}", file=sys.stderr)
        return EXIT_USAGE


def merge(sources: list[str], *, out: str, overwrite: bool = False) -> int:
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
    check_output_folder(out, overwrite=overwrite, what="evaluation report", replaceable=is_report_folder)
    runs = [read_report(source) for source in sources]
    merged = merge_reports([report for report, _ in runs], names=sources)
    commands = []
    for _, command in runs:  # a source may itself be a merged report, with a list of commands
        commands += command if isinstance(command, list) else [command] if command else []
    files = write_report(merged, out, command=commands, overwrite=overwrite)
    print(files.markdown.read_text())
    print(f"wrote {files.json}, {files.markdown}, {files.plot}")
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    """Run `t2l eval`; returns 0, or 2 with a message on stderr when an input is wrong."""
    try:
        return run(options_from_args(EvalOptions, args))
    except ValueError as err:
        print(f"t2l eval: error: {err}", file=sys.stderr)
        return EXIT_USAGE


def run(options: EvalOptions) -> int:
    """Load tasks and the base model, evaluate the systems `options` asks for, write the reports; returns 0.

    Args:
        options: the evaluation, as `t2l eval` parses it.

    Example:
        ```python
        >>> run(EvalOptions(tasks="../shared/data/sni/validation", base=True, max_instances=5, out="runs/eval"))
        ```
    """
    from ..data import load_tasks
    from ..defaults import DEFAULT_BASE_MODEL, load_base_model
    from .harness import evaluate
    from .reports import write_report

    specs = options.systems()
    if options.holdout < 0:
        raise ValueError(f"--holdout {options.holdout} is negative; use 0 or the N training held out.")
    # before any work: an unwritable --out must not cost a whole evaluation
    check_output_folder(
        options.out, overwrite=options.overwrite, what="evaluation report", replaceable=is_report_folder
    )
    config = options.eval_config()
    loaded = [t.hold_out_descriptions(options.holdout) for t in load_tasks(options.tasks, names=options.task_names)]
    for spec in specs:  # fail on missing descriptions before loading a model
        if spec.reads_descriptions:
            select_descriptions(loaded, spec.descriptions, count=spec.num_descriptions or config.num_descriptions)
    model, tokenizer = load_base_model(options.base_model or DEFAULT_BASE_MODEL)
    report = evaluate(specs, loaded, model=model, tokenizer=tokenizer, config=config)
    files = write_report(report, options.out, command=options.command_line(), overwrite=options.overwrite)
    print(files.markdown.read_text())
    print(f"wrote {files.json}, {files.markdown}, {files.plot}")
    return EXIT_OK
