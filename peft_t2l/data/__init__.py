"""Training data for T2L: tasks with descriptions, chat-formatted examples, task-mixed batches."""

from .formatting import IGNORE_INDEX, EncodedExample, TokenizedTasks, TruncationStats, collate, encode_example
from .sampling import BatchPlan, TaskMixSampler
from .tasks import HFTaskColumns, Instance, Task, load_tasks, task_from_dict, task_from_hf

__all__ = [
    "IGNORE_INDEX",
    "BatchPlan",
    "EncodedExample",
    "HFTaskColumns",
    "Instance",
    "Task",
    "TaskMixSampler",
    "TokenizedTasks",
    "TruncationStats",
    "collate",
    "encode_example",
    "load_tasks",
    "task_from_dict",
    "task_from_hf",
]
