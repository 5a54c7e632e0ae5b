"""SFT of the hypernetwork: every batch row gets the LoRA generated from its own task's description.

Each batch mixes `tasks_per_batch` tasks x `examples_per_task` examples. The T2L model writes one LoRA per row (a
description sampled per example), `RowLoRA` adds it to the frozen base model row by row, and the response loss
(plus an L2 penalty on the generated weights) back-propagates into the hypernetwork only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate.utils import set_seed
from torch import nn

from ..data import Task, TaskMixSampler
from ..model import T2LModel, T2LOutput
from ..peft_format import read_lora_folder
from ..peft_integration import load_t2l_model
from .config import HypernetFields, SFTConfig, config_to_dict
from .engine import LossOutput, TrainResult, make_accelerator, train_loop
from .inputs import frozen_base, tokenize_tasks, training_tasks
from .losses import mismatch_margin_loss, neftune, plan_batch, response_loss, response_tokens
from .negatives import NearestTaskNegatives, mismatched_rows
from .row_lora import RowLoRA

MODEL_DIR = "model"
EVAL_DESCRIPTIONS = "eval_descriptions.json"  # task -> descriptions kept out of training


@dataclass
class T2LTrainResult:
    """A trained T2L model and where it was saved.

    Args:
        model: the trained hypernetwork (unwrapped, on the training device).
        model_dir: its `save_pretrained` folder, `<output_dir>/model`.
        train: the loop's result (losses, state, summary).
    """

    model: T2LModel
    model_dir: Path
    train: TrainResult


def train_sft(
    config: SFTConfig,
    *,
    base_model: nn.Module | None = None,
    tokenizer=None,
    t2l_model: T2LModel | None = None,
    tasks: list[Task] | None = None,
    on_step_end: Callable[[int], None] | None = None,
) -> T2LTrainResult:
    """Train a T2L hypernetwork by SFT through the frozen base LLM, then save it to `<output_dir>/model`.

    Args:
        config: the run (data, hypernetwork shape, optimisation).
        base_model: the causal LM (default: load `config.base_model`); frozen here.
        tokenizer: its tokenizer (required with `base_model`).
        t2l_model: start from this hypernetwork (default: `config.init_from`, or a new one for the base model).
        tasks: train on these tasks (default: load `config.data`).
        on_step_end: called with the step number after each optimizer step.

    Example:
        ```python
        >>> result = train_sft(load_config(SFTConfig, "configs/sft_smollm2_sni.yaml"))
        >>> lora = result.model.generate_lora("classify the sentiment of a review")
        ```
    """
    set_seed(config.seed)
    accelerator = make_accelerator(config)
    tasks = training_tasks(config, tasks, holdout=config.num_holdout_descriptions)
    base_model, tokenizer = frozen_base(config, base_model, tokenizer, accelerator.device)
    if t2l_model is not None:
        t2l = t2l_model
    elif config.offset_from_lora and not config.init_from:
        t2l = build_t2l(config, base_model, [t.name for t in tasks], use_output_affine=True, head_use_bias=False)
        start_from_adapter(t2l, config.offset_from_lora)
    else:
        t2l = build_t2l(config, base_model, [t.name for t in tasks])
    t2l.to(accelerator.device)
    data = tokenize_tasks(config, tasks, tokenizer)
    sampler = TaskMixSampler(
        tasks,
        tasks_per_batch=config.tasks_per_batch,
        examples_per_task=config.examples_per_task,
        seed=config.seed,
        rank=accelerator.process_index,
        use_task_names=t2l.config.encoder_type == "one_hot",
        definition_fraction=config.definition_fraction,
    )
    row_lora = RowLoRA(base_model, t2l.config)
    negatives = None
    if config.mismatch_fraction > 0 and config.mismatch_negatives == "nearest":
        if t2l.config.encoder_type == "one_hot":
            raise ValueError(
                "mismatch_negatives='nearest' needs a text encoder to find neighbouring tasks, but encoder_type is "
                "'one_hot'; use mismatch_negatives='batch'."
            )
        negatives = NearestTaskNegatives(tasks, t2l.embed_descriptions, k=config.mismatch_nearest_k, seed=config.seed)

    def compute_loss(model: nn.Module, index: int) -> LossOutput:
        plan = sampler.plan(index)
        batch = plan_batch(data, plan, pad_token_id=tokenizer.pad_token_id, device=accelerator.device)
        with torch.no_grad():
            task_embeddings = t2l.embed_descriptions(plan.descriptions)  # [B, E]
        rows, own_rows = len(plan.task_ids), []
        if negatives is not None:  # twins get a description of one of their task's nearest other tasks
            own_rows = list(range(round(config.mismatch_fraction * rows)))
            with torch.no_grad():
                other = t2l.embed_descriptions(negatives.draw(plan, own_rows, index))  # [k, E]
        elif swap := mismatched_rows(plan.task_ids, config.mismatch_fraction):  # twins get another batch row's
            own_rows = [row for row, _ in swap]
            other = task_embeddings[[partner for _, partner in swap]]  # [k, E]
        if own_rows:  # the first k rows again, each with another task's embedding: one forward serves both
            task_embeddings = torch.cat([task_embeddings, other])  # [B+k, E]
            batch = {key: torch.cat([value, value[own_rows]]) for key, value in batch.items()}
        generated: T2LOutput = model(task_embeddings)  # A: [B+k, L, r, in], B: [B+k, L, out, r]
        with row_lora.apply(generated.lora_A, generated.lora_B, dropout=t2l.config.lora_dropout):
            logits = base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        # one cross-entropy over the vocabulary serves the own rows' loss and the mismatched rows' margin
        per_row = response_loss(logits, batch["labels"], label_smoothing=config.label_smoothing, per_example=True)
        if config.loss_per_example:
            ce = per_row[:rows].mean()
        else:  # token-weighted over the own rows only
            tokens = response_tokens(batch["labels"][:rows])  # [B]
            ce = (per_row[:rows] * tokens).sum() / tokens.sum().clamp(min=1.0)
        l2 = generated_l2(generated)
        loss = ce + config.l2_reg_generated_w * l2
        metrics = {"ce": ce.item(), "l2_generated": l2.item()}
        if own_rows:
            own, mismatched = per_row[own_rows], per_row[rows:]  # [k], [k]
            margin = mismatch_margin_loss(own, mismatched, margin=config.mismatch_margin)
            loss = loss + config.mismatch_weight * margin
            metrics |= {"mismatch_margin": margin.item(), "mismatch_gap": (mismatched - own).mean().item()}
        return LossOutput(loss=loss, tokens=int(batch["attention_mask"].sum()), metrics=metrics)

    summary = {"regime": "sft", "tasks": [t.name for t in tasks], "truncation": data.truncation.as_dict()}
    if accelerator.is_main_process:  # what evaluation on unseen phrasings of the training tasks should use
        Path(config.output_dir).mkdir(parents=True, exist_ok=True)
        held_out = {t.name: list(t.eval_descriptions) for t in tasks if t.eval_descriptions}
        (Path(config.output_dir) / EVAL_DESCRIPTIONS).write_text(json.dumps(held_out, indent=1))
    try:
        with neftune(base_model, config.neftune_noise_alpha):
            result = train_loop(
                config=config,
                model=t2l,
                compute_loss=compute_loss,
                accelerator=accelerator,
                summary=summary,
                on_step_end=on_step_end,
            )
    finally:
        row_lora.remove()
    t2l = accelerator.unwrap_model(t2l)
    model_dir = save_trained_t2l(t2l, config, result, is_main_process=accelerator.is_main_process)
    accelerator.wait_for_everyone()
    return T2LTrainResult(model=t2l, model_dir=model_dir, train=result)


def generated_l2(generated: T2LOutput) -> torch.Tensor:
    """Mean squared value of the generated A and B, averaged over target modules (the paper's weight penalty)."""
    terms = [a.square().mean() + generated.lora_B[m].square().mean() for m, a in generated.lora_A.items()]
    return torch.stack(terms).mean()


def build_t2l(config: HypernetFields, base_model: nn.Module | str, task_names: list[str], **extra) -> T2LModel:
    """A new T2L model for `base_model` from the config's T2LConfig fields, or the one in `config.init_from`.

    Args:
        config: the hypernetwork fields of a training config.
        base_model: the base LLM (or its id), read for module shapes.
        task_names: the training tasks (the one-hot vocabulary for `encoder_type="one_hot"`).
        **extra: other `T2LConfig` fields (e.g. `use_output_affine=True`).

    Example:
        ```python
        >>> t2l = build_t2l(config, base_model, ["task1", "task2"])
        ```
    """
    if config.init_from:
        return load_t2l_model(config.init_from)  # clear errors for a missing or truncated folder
    fields = config.t2l_fields() | extra  # what the caller's regime needs (e.g. the offset's head_use_bias=False) wins
    return T2LModel.from_base_model(base_model, **fields, task_names=list(task_names))


def start_from_adapter(t2l: T2LModel, adapter_dir: str | Path) -> None:
    """Make `t2l` write exactly the LoRA in `adapter_dir` for every description, as a starting point for SFT.

    The adapter goes into the output shift buffers (scale 1) and the head weights are zeroed, so the generated A and B
    equal the adapter's until training moves the heads. This is the reference's "AB offset" (e.g. a multi-task LoRA).

    Args:
        t2l: a model built with `use_output_affine=True` and `head_use_bias=False`.
        adapter_dir: a PEFT LoRA folder for the same base model, target modules and rank.

    Example:
        ```python
        >>> t2l = build_t2l(config, base, names, use_output_affine=True, head_use_bias=False)
        >>> start_from_adapter(t2l, "runs/mt_lora/adapter")
        ```
    """
    c = t2l.config
    if not c.use_output_affine or c.head_use_bias:
        raise ValueError(
            f"start_from_adapter needs use_output_affine=True and head_use_bias=False (got {c.use_output_affine}, "
            f"{c.head_use_bias}); build the T2L model with those."
        )
    weights = read_lora_folder(Path(adapter_dir), c)  # B already rescaled to the T2L scaling
    with torch.no_grad():
        for m, (a, b) in weights.items():
            getattr(t2l, f"output_scale_A_{m}").fill_(1.0)
            getattr(t2l, f"output_scale_B_{m}").fill_(1.0)
            getattr(t2l, f"output_shift_A_{m}").copy_(a)
            getattr(t2l, f"output_shift_B_{m}").copy_(b)
            t2l.heads[m].weight.zero_()


def save_trained_t2l(t2l: T2LModel, config, result: TrainResult, *, is_main_process: bool) -> Path:
    """Record how the model was trained in `config.training_summary` (it feeds the model card) and save it."""
    model_dir = Path(config.output_dir) / MODEL_DIR
    c = t2l.config
    c.training_summary = {
        "regime": result.summary.get("regime"),
        "base_model": c.base_model_name_or_path,
        "encoder": {"type": c.encoder_type, "name_or_path": c.encoder_name_or_path},
        "tasks": result.summary.get("tasks", []),
        "steps": result.state.step,
        "tokens": result.state.tokens,
        "final_loss": result.summary.get("final_loss"),
        "training_config": config_to_dict(config),
    }
    if is_main_process:
        t2l.save_pretrained(model_dir)
    return model_dir
