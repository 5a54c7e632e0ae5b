"""Which other task's description a row's mismatched twin gets, for the SFT mismatch margin.

"batch" pairs a row with another task of the same batch: a random task, usually easy to tell apart. "nearest" draws
the twin from the `k` training tasks whose descriptions embed closest to the row's task, over all tasks: the model
then has to tell neighbouring tasks apart (e.g. MNLI's "neutral" vs "contradiction" classifiers), which random
negatives rarely ask, and which is where an unseen description lands on the wrong neighbour's answer format.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import torch

from ..data import BatchPlan, Task


def mismatched_rows(task_ids: list[int], fraction: float) -> list[tuple[int, int]]:
    """Pairs `(row, other_row)` for the first `round(fraction * rows)` rows, `other_row` from a different task.

    The partner is the nearest later row (cyclically) of another task. Rows whose batch holds only their own task get
    no pair.

    Example:
        ```python
        >>> mismatched_rows([0, 0, 1, 1], 0.5)
        [(0, 2), (1, 2)]
        ```
    """
    rows = len(task_ids)
    pairs = []
    for row in range(round(fraction * rows)):
        others = [(row + step) % rows for step in range(1, rows) if task_ids[(row + step) % rows] != task_ids[row]]
        if others:
            pairs.append((row, others[0]))
    return pairs


class NearestTaskNegatives:
    """Descriptions of a task's nearest other training tasks, drawn reproducibly per batch.

    Args:
        tasks: the training tasks (the sampler's list, so task ids agree).
        embed: maps descriptions to task embeddings `[n, E]` (the T2L model's frozen encoder).
        k: draw among this many nearest other tasks.
        descriptions_per_task: descriptions averaged into each task's centroid.
        seed: the run's seed; with the batch index it fixes every draw, so a resumed run draws the same negatives.

    Example:
        ```python
        >>> negatives = NearestTaskNegatives(tasks, t2l.embed_descriptions, k=5)
        >>> texts = negatives.draw(plan, rows=[0, 1, 2], index=7)  # one description per row, of another task
        ```
    """

    def __init__(
        self,
        tasks: list[Task],
        embed: Callable[[list[str]], torch.Tensor],
        *,
        k: int = 5,
        descriptions_per_task: int = 8,
        seed: int = 0,
    ):
        if len(tasks) < 2:
            raise ValueError(f"nearest-task negatives need >= 2 training tasks, got {len(tasks)}; add tasks.")
        if k < 1:
            raise ValueError(f"k={k} must be >= 1 (the number of nearest tasks to draw a negative from).")
        self.tasks, self.seed = tasks, seed
        with torch.no_grad():
            centroids = torch.stack([embed(list(t.descriptions[:descriptions_per_task])).mean(0) for t in tasks])
        centroids = torch.nn.functional.normalize(centroids.float(), dim=-1)  # [T, E]
        similarity = centroids @ centroids.T  # [T, T]
        similarity.fill_diagonal_(float("-inf"))  # a task is never its own negative
        self.nearest: list[list[int]] = similarity.topk(min(k, len(tasks) - 1), dim=-1).indices.tolist()  # [T][k]

    def draw(self, plan: BatchPlan, rows: list[int], index: int) -> list[str]:
        """One description per row in `rows`, from one of that row's task's nearest other tasks."""
        rng = random.Random(f"{self.seed}/negatives/{index}")  # str seeds hash stably across processes
        texts = []
        for row in rows:
            other = self.tasks[rng.choice(self.nearest[plan.task_ids[row]])]
            texts.append(rng.choice(other.descriptions))
        return texts
