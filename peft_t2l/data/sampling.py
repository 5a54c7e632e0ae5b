"""Task-mixed batches: n tasks x m examples, a description sampled per example.

Batch `k` is a pure function of (seed, rank, k), so the data position of a run is a single integer: a resumed run
draws exactly the batches the uninterrupted run would have drawn, with no iterator state to save.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .tasks import Task


@dataclass(frozen=True)
class BatchPlan:
    """Which examples make one batch.

    Args:
        task_ids: index into the task list, per row.
        instance_ids: index into that task's instances, per row.
        descriptions: the description each row's adapter is generated from.
    """

    task_ids: list[int]
    instance_ids: list[int]
    descriptions: list[str]


@dataclass(frozen=True)
class TaskMixSampler:
    """Draws `tasks_per_batch` distinct tasks and `examples_per_task` instances of each, per batch.

    Args:
        tasks: the training tasks.
        tasks_per_batch: distinct tasks per batch (capped at the number of tasks).
        examples_per_task: instances per task per batch (drawn without replacement while the task has enough).
        seed: the run's seed.
        rank: this process's rank; each rank draws its own batches.
        use_task_names: use the task name as the description (one-hot encoders know tasks by name).
        definition_fraction: share of rows whose description is the task's definition (its original instruction
            text, which usually states the answer format) instead of one of its descriptions; tasks without a
            definition always use a description. 0 draws exactly the batches it drew before this option existed.

    Example:
        ```python
        >>> sampler = TaskMixSampler(tasks, tasks_per_batch=4, examples_per_task=2, seed=0)
        >>> plan = sampler.plan(0)  # 8 rows from 4 tasks
        ```
    """

    tasks: list[Task]
    tasks_per_batch: int
    examples_per_task: int
    seed: int = 0
    rank: int = 0
    use_task_names: bool = False
    definition_fraction: float = 0.0

    def __post_init__(self):
        if not self.tasks:
            raise ValueError("TaskMixSampler got no tasks; load at least one task.")
        if not 0.0 <= self.definition_fraction <= 1.0:
            raise ValueError(
                f"TaskMixSampler.definition_fraction={self.definition_fraction} must be a share in [0, 1], e.g. 0.1."
            )
        for attr in ("tasks_per_batch", "examples_per_task"):
            if getattr(self, attr) <= 0:
                raise ValueError(f"TaskMixSampler.{attr}={getattr(self, attr)} must be a positive integer.")

    def plan(self, index: int) -> BatchPlan:
        """The rows of batch `index` (any non-negative integer; same index, same batch)."""
        # a str seed is hashed with SHA-512, so this is stable across processes and PYTHONHASHSEED
        rng = random.Random(f"{self.seed}/{self.rank}/{index}")
        chosen = rng.sample(range(len(self.tasks)), min(self.tasks_per_batch, len(self.tasks)))
        task_ids, instance_ids, descriptions = [], [], []
        for t in chosen:
            task = self.tasks[t]
            n = len(task.instances)
            rows = (
                rng.sample(range(n), self.examples_per_task)
                if n >= self.examples_per_task
                else rng.choices(range(n), k=self.examples_per_task)
            )
            for i in rows:
                task_ids.append(t)
                instance_ids.append(i)
                descriptions.append(self._description(task, rng))
        return BatchPlan(task_ids=task_ids, instance_ids=instance_ids, descriptions=descriptions)

    def _description(self, task: Task, rng: random.Random) -> str:
        if self.use_task_names:
            return task.name
        # the extra draw happens only when the option is on, so runs without it keep their batches (and resume)
        if self.definition_fraction > 0 and task.definition and rng.random() < self.definition_fraction:
            return task.definition
        return rng.choice(task.descriptions)
