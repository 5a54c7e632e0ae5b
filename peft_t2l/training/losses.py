"""Token loss on responses, NEFTune noise, and the batch plumbing the SFT and LoRA trainers share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ..data import IGNORE_INDEX, BatchPlan, TokenizedTasks, collate


def response_loss(
    logits: torch.Tensor, labels: torch.Tensor, *, label_smoothing: float = 0.0, per_example: bool = False
) -> torch.Tensor:
    """Next-token cross-entropy on responses (labels != IGNORE_INDEX).

    Args:
        logits: `[batch, seq, vocab]`.
        labels: `[batch, seq]`, `IGNORE_INDEX` on prompt and padding.
        label_smoothing: as in `torch.nn.functional.cross_entropy`.
        per_example: return `[batch]`, each row's mean over its own response tokens, instead of one mean over all
            response tokens (where a 30-token answer outweighs a one-word label 30 to 1).

    Example:
        ```python
        >>> loss = response_loss(model(**batch).logits, batch["labels"], label_smoothing=0.1)
        >>> rows = response_loss(model(**batch).logits, batch["labels"], per_example=True)  # [batch]
        ```
    """
    shift_logits = logits[:, :-1].float()  # [B, T-1, V]
    shift_labels = labels[:, 1:]  # [B, T-1]
    token_ce = nn.functional.cross_entropy(
        shift_logits.reshape(-1, shift_logits.shape[-1]),
        shift_labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
        label_smoothing=label_smoothing,
        reduction="none" if per_example else "mean",
    )
    if not per_example:
        return token_ce
    mask = (shift_labels != IGNORE_INDEX).float()  # [B, T-1]
    token_ce = token_ce.view_as(mask) * mask  # [B, T-1]
    return token_ce.sum(dim=1) / response_tokens(labels).clamp(min=1.0)  # [B]


def response_tokens(labels: torch.Tensor) -> torch.Tensor:
    """`[batch]` float count of the response tokens `response_loss` scores in each row (shifted labels that count).

    With it, the per-example losses give back the token mean: `(per_row * tokens).sum() / tokens.sum()`.

    Example:
        ```python
        >>> response_tokens(torch.tensor([[-100, 5, 6], [-100, -100, 7]]))  # tensor([2., 1.])
        ```
    """
    return (labels[:, 1:] != IGNORE_INDEX).float().sum(dim=1)


def mismatch_margin_loss(own: torch.Tensor, mismatched: torch.Tensor, *, margin: float) -> torch.Tensor:
    """Hinge that asks another task's adapter to fit a row worse than the row's own adapter by `margin` nats.

    A generic adapter that helps every task equally ("answer briefly") earns nothing here; only the part of the
    adapter that depends on the description can open the gap.

    Args:
        own: `[n]` per-example loss with the row's own description.
        mismatched: `[n]` per-example loss of the same rows with another task's description.
        margin: the gap (in nats per response token) beyond which a row adds no loss.

    Example:
        ```python
        >>> mismatch_margin_loss(torch.tensor([1.0]), torch.tensor([1.2]), margin=0.5)  # relu(0.5 - 0.2) = 0.3
        ```
    """
    return torch.relu(margin - (mismatched - own)).mean()


@contextmanager
def neftune(base_model: nn.Module, alpha: float) -> Iterator[None]:
    """Add NEFTune noise (Jain et al., 2023) to the input embeddings of `base_model` in training mode.

    Noise is uniform in `[-m, m]` with `m = alpha / sqrt(seq_len * hidden)`. `alpha=0` does nothing.

    Args:
        base_model: the causal LM.
        alpha: noise scale (the paper's runs use 5).

    Example:
        ```python
        >>> with neftune(base_model, 5.0):
        ...     train()
        ```
    """
    if alpha <= 0:
        yield
        return

    def add_noise(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():  # evaluation and generation see clean embeddings
            return output
        magnitude = alpha / (output.shape[-2] * output.shape[-1]) ** 0.5
        return output + torch.zeros_like(output).uniform_(-magnitude, magnitude)

    handle = base_model.get_input_embeddings().register_forward_hook(add_noise)
    try:
        yield
    finally:
        handle.remove()


def plan_batch(data: TokenizedTasks, plan: BatchPlan, *, pad_token_id: int, device: torch.device):
    """Collate the examples a `BatchPlan` names and move them to `device`."""
    examples = [data.examples[t][i] for t, i in zip(plan.task_ids, plan.instance_ids)]
    return {k: v.to(device) for k, v in collate(examples, pad_token_id=pad_token_id).items()}
