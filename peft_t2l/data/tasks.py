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


def task_from_dict(data: dict[str, Any], *, name: str | None = None) -> Task:
    """Build a `Task` from the project's JSON schema or from a raw SNI task file, whichever `data` is.

    Args:
        data: the parsed JSON.
        name: the task name when the data has none (raw SNI files are named by their file name).

    Example:
        ```python
        >>> task_from_dict({"task": "t", "descriptions": ["add"], "instances": [{"input": "1+1", "output": ["2"]}]})
        ```
    """
    if "Instances" in data:  # raw SNI: Definition is a list of strings, each instance has a list of outputs
        definition = " ".join(data.get("Definition") or []).strip()
        return Task(
            name=name or data.get("task") or "",
            descriptions=(definition,) if definition else (),
            instances=tuple(Instance(i["input"], _outputs(i["output"])) for i in data["Instances"]),
            definition=definition or None,
        )
    if "instances" not in data:
        raise ValueError(
            f"task {name or data.get('task')!r} is neither the project's schema (`instances`) nor a raw SNI task "
            "(`Instances`); see /work/shared/data/sni/README.md for the expected fields."
        )
    definition = data.get("definition")
    descriptions = tuple(data.get("descriptions") or ([definition] if definition else []))
    return Task(
        name=data.get("task") or name or "",
        descriptions=descriptions,
        instances=tuple(Instance(i["input"], _outputs(i["output"])) for i in data["instances"]),
        eval_descriptions=tuple(data.get("eval_descriptions") or ()),
        definition=definition,
    )


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
        tasks = [task_from_dict(json.loads(f.read_text()), name=f.stem) for f in files]
    if names:
        by_name = {t.name: t for t in tasks}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ValueError(f"tasks {missing[:3]} are not in {source_str}; available: {sorted(by_name)[:5]}...")
        tasks = [by_name[n] for n in names]
    if max_instances is not None:
        tasks = [replace(t, instances=t.instances[:max_instances]) for t in tasks]
    return tasks


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
    instances = tuple(Instance(r[columns.input], _outputs(r[columns.output])) for r in rows)
    default_description = f"Solve the task '{name.replace('_', ' ')}'."
    return Task(name=name, descriptions=tuple(descriptions or [default_description]), instances=instances)


def _outputs(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)
