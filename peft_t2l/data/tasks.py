"""Tasks: a name, several descriptions, and (input, output) instances, read from the formats T2L trains on.

Three sources give the same `Task` objects:
- the project's JSON schema (`<task>.json` with `task`, `descriptions`, `instances: [{input, output: [...]}]`),
- raw Super-NaturalInstructions task files (`Definition`, `Instances`), whose definition is the one description,
- Hugging Face datasets (e.g. the Lots-of-LoRAs SNI datasets), loaded lazily with the `datasets` library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

INDEX_FILE = "index.json"  # a summary next to the task files in the project's layout, not a task


@dataclass(frozen=True)
class Instance:
    """One example of a task.

    Args:
        input: the user turn.
        outputs: accepted answers; `outputs[0]` is the training target.
    """

    input: str
    outputs: tuple[str, ...]

    @property
    def output(self) -> str:
        return self.outputs[0]


@dataclass(frozen=True)
class Task:
    """A task T2L can be trained on.

    Args:
        name: unique task name (e.g. the SNI task name).
        descriptions: natural-language descriptions; training samples one per example.
        instances: the (input, output) examples.
        eval_descriptions: descriptions kept out of training, for evaluation.
        definition: the original task definition, if any.
    """

    name: str
    descriptions: tuple[str, ...]
    instances: tuple[Instance, ...]
    eval_descriptions: tuple[str, ...] = ()
    definition: str | None = None

    def __post_init__(self):
        if not self.name:
            raise ValueError("Task.name is empty; give every task a unique name.")
        if not self.descriptions:
            raise ValueError(f"Task {self.name!r} has no descriptions; add at least one (or use its definition).")
        if not self.instances:
            raise ValueError(f"Task {self.name!r} has no instances; add (input, output) examples or drop the task.")
        for i, inst in enumerate(self.instances):
            if not inst.outputs or not isinstance(inst.outputs[0], str):
                raise ValueError(f"Task {self.name!r} instance {i} has no output string; give at least one answer.")

    def hold_out_descriptions(self, count: int) -> Task:
        """Move the last `count` descriptions to `eval_descriptions` (at least one is always kept for training).

        Args:
            count: how many descriptions to hold out.

        Example:
            ```python
            >>> task = task.hold_out_descriptions(8)
            ```
        """
        if count <= 0:
            return self
        keep = max(1, len(self.descriptions) - count)
        held = self.descriptions[keep:]
        return replace(self, descriptions=self.descriptions[:keep], eval_descriptions=self.eval_descriptions + held)

    def split_instances(self, count: int) -> tuple[Task, Task]:
        """Split off the last `count` instances (at most half of them) for evaluating a seen task on unseen inputs.

        Training's `num_holdout_instances=N` keeps the first part; `t2l eval --holdout-instances N` scores the second,
        so the same N always names the same instances.

        Args:
            count: how many instances to hold out; capped at half the task's instances so training keeps most.

        Returns:
            `(kept, held_out)`; with `count <= 0`, `(self, self)`.

        Example:
            ```python
            >>> train_part, eval_part = task.split_instances(8)
            ```
        """
        if count <= 0:
            return self, self
        held = min(count, len(self.instances) // 2)
        if held == 0:
            raise ValueError(
                f"task {self.name!r} has {len(self.instances)} instance(s), too few to hold any out; "
                "give it at least 2 instances or hold out none (0)."
            )
        cut = len(self.instances) - held
        return replace(self, instances=self.instances[:cut]), replace(self, instances=self.instances[cut:])


def task_from_dict(data: dict[str, Any], *, name: str | None = None, source: str | None = None) -> Task:
    """Build a `Task` from the project's JSON schema or from a raw SNI task file, whichever `data` is.

    Every field is checked: a wrong type or a missing field raises a `ValueError` naming the file, the task and the
    field (e.g. `descriptions` given as one string, which would otherwise be read character by character).

    Args:
        data: the parsed JSON.
        name: the task name when the data has none (raw SNI files are named by their file name).
        source: where `data` came from (a file path), for error messages.

    Example:
        ```python
        >>> task_from_dict({"task": "t", "descriptions": ["add"], "instances": [{"input": "1+1", "output": ["2"]}]})
        ```
    """
    try:
        return _task_from_dict(data, name=name, source=source)
    except ValueError as err:
        if source and not str(err).startswith(source):  # Task's own checks do not know the file
            raise ValueError(f"{source}: {err}") from None
        raise


def _task_from_dict(data: Any, *, name: str | None, source: str | None) -> Task:
    where = _Where(source, name)
    if not isinstance(data, dict):
        where.fail("", f"is a JSON {type(data).__name__}, not an object", "write one task object per file")
    if "Instances" in data:  # raw SNI: Definition is a list of strings, each instance has a list of outputs
        where.task = name or _string(data.get("task"), "task", where, optional=True) or ""
        definition_parts = data.get("Definition") or []
        if isinstance(definition_parts, str):
            definition_parts = [definition_parts]
        definition = " ".join(_strings(definition_parts, "Definition", where)).strip()
        return Task(
            name=where.task,
            descriptions=(definition,) if definition else (),
            instances=_instances(data["Instances"], "Instances", where),
            definition=definition or None,
        )
    if "instances" not in data:
        where.fail(
            "instances",
            "is missing: the file is neither the project's schema (`instances`) nor a raw SNI task (`Instances`)",
            "see /work/shared/data/sni/README.md for the expected fields",
        )
    where.task = _string(data.get("task"), "task", where, optional=True) or name or ""
    definition = _string(data.get("definition"), "definition", where, optional=True)
    descriptions = _strings(data.get("descriptions") or ([definition] if definition else []), "descriptions", where)
    return Task(
        name=where.task,
        descriptions=descriptions,
        instances=_instances(data["instances"], "instances", where),
        eval_descriptions=_strings(data.get("eval_descriptions") or [], "eval_descriptions", where),
        definition=definition,
    )


class _Where:
    """File and task a value comes from, for error messages."""

    def __init__(self, source: str | None, task: str | None):
        self.source, self.task = source, task

    def fail(self, field_name: str, problem: str, fix: str):
        file = f"{self.source}: " if self.source else ""
        task = f"task {self.task!r}, " if self.task else ""
        raise ValueError(f"{file}{task}field {field_name or '(top level)'!r} {problem}; {fix}.")


def _string(value: Any, field_name: str, where: _Where, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        where.fail(field_name, f"is {_kind(value)}, not a string", "write it as a JSON string")
    return value


def _strings(value: Any, field_name: str, where: _Where) -> tuple[str, ...]:
    if isinstance(value, str):  # tuple("answer no") would give one-character descriptions
        where.fail(field_name, f"is one string ({value[:40]!r})", f'write a list of strings: ["{value[:40]}"]')
    if not isinstance(value, (list, tuple)):
        where.fail(field_name, f"is {_kind(value)}, not a list of strings", "write a JSON list of strings")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            where.fail(f"{field_name}[{i}]", f"is {_kind(item)}", "every entry must be a non-empty string")
    return tuple(value)


def _instances(value: Any, field_name: str, where: _Where) -> tuple[Instance, ...]:
    if not isinstance(value, list):
        where.fail(field_name, f"is {_kind(value)}, not a list", 'write a list of {"input": ..., "output": ...}')
    result = []
    for i, item in enumerate(value):
        at = f"{field_name}[{i}]"
        if not isinstance(item, dict):
            where.fail(at, f"is {_kind(item)}, not an object", 'write {"input": "...", "output": ["..."]}')
        for key in ("input", "output"):
            if key not in item:
                where.fail(f"{at}.{key}", "is missing", f'give every instance an "{key}"')
        result.append(
            Instance(_string(item["input"], f"{at}.input", where), _outputs(item["output"], f"{at}.output", where))
        )
    return tuple(result)


def _kind(value: Any) -> str:
    return "null" if value is None else f"a {type(value).__name__} ({str(value)[:40]!r})"


def load_tasks(source: str | Path, *, names: list[str] | None = None, max_instances: int | None = None) -> list[Task]:
    """Read tasks from a folder of task files, one task file, or a Hugging Face dataset id (`hf:<id>`).

    Args:
        source: a folder of `<task>.json` files (project schema or raw SNI), one such file, or `hf:<dataset id>`.
        names: keep only these tasks, in this order (all when `None`).
        max_instances: keep at most this many instances per task (the first ones).

    Example:
        ```python
        >>> tasks = load_tasks("../shared/data/sni/train", max_instances=100)
        ```
    """
    source_str = str(source)
    if source_str.startswith("hf:"):
        tasks = [task_from_hf(source_str[3:])]
    else:
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.glob("*.json") if p.name != INDEX_FILE)
            if not files:
                raise ValueError(f"data folder {path} holds no <task>.json files; point `data` at a task folder.")
        elif path.is_file():
            files = [path]
        else:
            raise ValueError(
                f"data={source_str!r} is neither a folder, a file, nor 'hf:<dataset id>'; check the path."
            )
        tasks = [task_from_dict(read_json(f), name=f.stem, source=str(f)) for f in files]
    if names:
        by_name = {t.name: t for t in tasks}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ValueError(f"tasks {missing[:3]} are not in {source_str}; available: {sorted(by_name)[:5]}...")
        tasks = [by_name[n] for n in names]
    if max_instances is not None:
        tasks = [replace(t, instances=t.instances[:max_instances]) for t in tasks]
    return tasks


def read_json(path: str | Path) -> Any:
    """Parse a UTF-8 JSON file (a leading BOM is allowed); a `ValueError` names the file and what is wrong.

    Example:
        ```python
        >>> data = read_json("data/sni/train/task001.json")
        ```
    """
    path = Path(path)
    raw = path.read_bytes()
    if not raw.strip():
        raise ValueError(f"{path}: the file is empty; write one task as a JSON object, or remove the file.")
    try:
        text = raw.decode("utf-8-sig")  # editors on Windows add a BOM; it is not part of the JSON
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}: byte {err.start} is not UTF-8 ({raw[err.start : err.start + 4]!r}); save the file as UTF-8."
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path}: invalid JSON at line {err.lineno}, column {err.colno} ({err.msg}); fix it."
        ) from None


@dataclass
class HFTaskColumns:
    """Which columns of a Hugging Face dataset hold the input and the output(s)."""

    input: str = field(default="input", metadata={"help": "Column with the user turn."})
    output: str = field(default="output", metadata={"help": "Column with the answer (a string or list of strings)."})


def task_from_hf(
    dataset: Any,
    *,
    name: str | None = None,
    descriptions: list[str] | None = None,
    split: str = "train",
    columns: HFTaskColumns | None = None,
) -> Task:
    """Build a `Task` from a Hugging Face dataset object, or a dataset id loaded with `datasets.load_dataset`.

    Args:
        dataset: a `datasets.Dataset` / `DatasetDict`, any sequence of row dicts, or a Hub id
            (e.g. `"Lots-of-LoRAs/task1418_bless_semantic_relation_classification"`).
        name: task name (default: the last part of the id).
        descriptions: task descriptions; these datasets carry none, so default to a sentence made from the name.
        split: the split to read from a `DatasetDict` or an id.
        columns: input and output column names.

    Example:
        ```python
        >>> task = task_from_hf("Lots-of-LoRAs/task1418_bless_semantic_relation_classification")
        ```
    """
    columns = columns or HFTaskColumns()
    if isinstance(dataset, str):
        from datasets import load_dataset  # lazy: only this source needs the library

        name = name or dataset.rstrip("/").split("/")[-1]
        dataset = load_dataset(dataset, split=split)
    elif hasattr(dataset, "keys") and split in dataset.keys():  # a DatasetDict
        dataset = dataset[split]
    if not name:
        raise ValueError("task_from_hf needs `name` when `dataset` is an object rather than a Hub id.")
    rows = dataset.to_list() if hasattr(dataset, "to_list") else list(dataset)
    if rows and (columns.input not in rows[0] or columns.output not in rows[0]):
        raise ValueError(
            f"dataset {name!r} has columns {sorted(rows[0])}; set HFTaskColumns(input=..., output=...) to match."
        )
    where = _Where(f"dataset {name}", name)
    instances = _instances(
        [{"input": r.get(columns.input), "output": r.get(columns.output)} for r in rows], "rows", where
    )
    default_description = f"Solve the task '{name.replace('_', ' ')}'."
    return Task(name=name, descriptions=tuple(descriptions or [default_description]), instances=instances)


def _outputs(value: Any, field_name: str, where: _Where) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not value:
        where.fail(field_name, f"is {_kind(value)}", "write the answer as a string or a non-empty list of strings")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            where.fail(f"{field_name}[{i}]", f"is {_kind(item)}, not a string", "write every answer as a string")
    return tuple(value)
