"""What the trainers load before training: tasks, the frozen base model, tokenised examples."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ..data import Task, TokenizedTasks, load_tasks
from ..defaults import load_base_model
from .config import DataFields


def training_tasks(config: DataFields, tasks: list[Task] | None, *, holdout: int = 0) -> list[Task]:
    """The config's tasks (or the given ones), with `holdout` descriptions per task moved to evaluation and the
    config's `num_holdout_instances` instances per task left out.

    Example:
        ```python
        >>> tasks = training_tasks(config, None, holdout=8)
        ```
    """
    if tasks is None:
        tasks = load_tasks(config.data, names=config.tasks, max_instances=config.max_instances_per_task)
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be unique; found duplicates in {names}.")
    return [t.split_instances(config.num_holdout_instances)[0].hold_out_descriptions(holdout) for t in tasks]


def frozen_base(config: DataFields, base_model: nn.Module | None, tokenizer, device: torch.device):
    """Load (or take) the base LLM and its tokenizer, frozen, in eval mode, on `device`.

    Example:
        ```python
        >>> base, tokenizer = frozen_base(config, None, None, torch.device("cpu"))
        ```
    """
    if base_model is None:
        base_model, tokenizer = load_base_model(config.base_model)
    elif tokenizer is None:
        raise ValueError("pass the tokenizer together with base_model (the chat template formats the examples).")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    base_model.requires_grad_(False)
    return base_model.eval().to(device), tokenizer


def tokenize_tasks(config: DataFields, tasks: list[Task], tokenizer) -> TokenizedTasks:
    """Tokenise every instance once and warn with the truncation counts when the length limits cut anything."""
    data = TokenizedTasks.build(
        tasks, tokenizer, max_prompt_length=config.max_prompt_length, max_response_length=config.max_response_length
    )
    message = data.truncation.message()
    if message:
        warnings.warn(message, UserWarning, stacklevel=2)
    return data
