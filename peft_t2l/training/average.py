"""Weight averaging of T2L models of one architecture ("model soup"): one hypernetwork from several saved models.

Runs continued from one model with different objectives trade seen-task fit against zero-shot conditioning, and one
recipe's runs land several ROUGE-L points apart on unseen tasks (docs/results/session7.md).
Averaging the weights of such models (Wortsman et al., 2022; Izmailov et al., 2018) is the cheap way to take a point
between them: no training, one forward pass per adapter as before.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import torch

from ..model import T2LModel

# config fields that record where a model came from rather than what it computes
_PROVENANCE_FIELDS = ("training_summary", "transformers_version", "auto_map", "architectures", "_name_or_path")


def average_models(models: Sequence[str | os.PathLike], *, weights: Sequence[float] | None = None) -> T2LModel:
    """Average the weights of saved T2L models that share one architecture.

    Every floating-point tensor becomes the weighted mean of the models' tensors (computed in float32, stored in the
    first model's dtype); other tensors must be equal. The result keeps the first model's config and text encoder, and
    its `training_summary` records the sources and their weights (it feeds the model card).

    Args:
        models: two or more T2L model folders (or Hub ids).
        weights: one non-negative weight per model, not all zero; normalised to sum to 1. Default: equal weights.

    Returns:
        The averaged `T2LModel`, in eval mode.

    Raises:
        ValueError: fewer than two models, weights that do not fit, or models whose configs differ in a field that
            changes the architecture (the message names the field and both values).

    Example:
        ```python
        >>> from peft_t2l.training.average import average_models
        >>> soup = average_models(["runs/a/model", "runs/b/model"], weights=[0.5, 0.5])
        >>> soup.save_pretrained("runs/soup/model")
        ```
    """
    names = [os.fspath(m) for m in models]
    if len(names) < 2:
        raise ValueError(f"models={names!r}: averaging needs at least two T2L models; pass two or more folders.")
    weights = normalised_weights(weights, len(names))
    first = T2LModel.from_pretrained(names[0])
    reference = _architecture(first)
    state = first.state_dict()  # views of the first model's parameters: written in place at the end
    sums = {k: v.detach().float() * weights[0] for k, v in state.items() if v.is_floating_point()}
    exact = {k: v for k, v in state.items() if not v.is_floating_point()}
    summaries = [first.config.training_summary or {}]
    for name, weight in zip(names[1:], weights[1:]):
        other = T2LModel.from_pretrained(name)
        _check_same_architecture(reference, _architecture(other), names[0], name)
        for key, value in other.state_dict().items():  # keys and shapes are fixed by the (equal) configs
            if key in sums:
                sums[key] += value.detach().float() * weight
            elif not torch.equal(exact[key], value):
                raise ValueError(f"{name}: its non-float tensor {key!r} differs from {names[0]}'s; these models "
                                 "cannot be averaged (they were not trained from one architecture).")  # fmt: skip
        summaries.append(other.config.training_summary or {})
        del other
    with torch.no_grad():
        for key, total in sums.items():
            state[key].copy_(total.to(state[key].dtype))
    first.config.training_summary = _summary(names, weights, summaries)
    return first.eval()


def normalised_weights(weights: Sequence[float] | None, n: int) -> list[float]:
    """`weights` checked for `n` models and scaled to sum to 1 (equal weights for `None`); `ValueError` otherwise.

    Example:
        ```python
        >>> normalised_weights([1, 3], 2)
        [0.25, 0.75]
        ```
    """
    if weights is None:
        return [1.0 / n] * n
    weights = [float(w) for w in weights]
    if len(weights) != n:
        raise ValueError(f"weights={weights!r}: {len(weights)} weights for {n} models; give one weight per model.")
    if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"weights={weights!r}: weights must be finite, non-negative and not all zero.")
    return [w / sum(weights) for w in weights]


def _architecture(model: T2LModel) -> dict:
    values = model.config.to_dict()
    for name in _PROVENANCE_FIELDS:
        values.pop(name, None)
    if values.get("encoder_type") != "one_hot":  # the task list is a record unless it indexes the embedding table
        values.pop("task_names", None)
    return values


def _check_same_architecture(reference: dict, other: dict, first: str, name: str) -> None:
    for field in sorted(reference.keys() | other.keys()):
        if reference.get(field) != other.get(field):
            raise ValueError(
                f"{name} has {field}={other.get(field)!r} but {first} has {field}={reference.get(field)!r}; only "
                "models of one architecture (the same config apart from their training record) can be averaged."
            )


def _summary(names: list[str], weights: list[float], summaries: list[dict]) -> dict:
    """The first model's record of base model, encoder and tasks, plus which models were averaged, how, and how each
    was trained."""
    kept = {k: summaries[0][k] for k in ("base_model", "encoder", "tasks") if k in summaries[0]}
    sources = []
    for name, weight, s in zip(names, weights, summaries):
        source = {"model": name, "weight": round(weight, 6), "regime": s.get("regime"), "steps": s.get("steps")}
        if "training_config" in s:  # so the card still says how each part was trained
            source["training_config"] = s["training_config"]
        sources.append(source)
    return {"regime": "weight average", **kept, "averaged": sources}
