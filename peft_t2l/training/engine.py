"""The training loop every trainer shares: Accelerate, AdamW, warmup + linear decay, checkpoints, resume, logging.

A trainer supplies the trainable module and `compute_loss(model, micro_batch_index) -> LossOutput`; batch `k` must be
a pure function of `k` (see `peft_t2l.data.TaskMixSampler`), which makes the data position one integer and resume
exact. Gradient accumulation is explicit (`no_sync` on all but the last micro-batch), so it does not depend on any
hidden counter that a resumed run would have to restore.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from torch import nn

from .checkpoint import TrainState, list_checkpoints, load_checkpoint, rng_state, save_checkpoint
from .config import RunConfig, config_to_dict

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"


@dataclass
class LossOutput:
    """What `compute_loss` returns for one micro-batch.

    Args:
        loss: the scalar to back-propagate.
        tokens: tokens processed (for tokens/s).
        metrics: extra scalars to log (averaged over the logging window).
    """

    loss: torch.Tensor
    tokens: int = 0
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainResult:
    """The outcome of `train_loop`.

    Args:
        output_dir: the run folder.
        losses: mean loss of every optimizer step run in this process (resumed runs start after the checkpoint).
        state: final step, data position and tokens.
        summary: what `summary.json` records.
    """

    output_dir: Path
    losses: list[float]
    state: TrainState
    summary: dict[str, Any]


def make_accelerator(config: RunConfig) -> Accelerator:
    """An `Accelerator` for the config's device and precision (accumulation is handled by `train_loop`).

    Example:
        ```python
        >>> accelerator = make_accelerator(config)
        ```
    """
    return Accelerator(mixed_precision=config.mixed_precision, cpu=config.cpu)


def train_loop(
    *,
    config: RunConfig,
    model: nn.Module,
    compute_loss: Callable[[nn.Module, int], LossOutput],
    accelerator: Accelerator,
    summary: dict[str, Any] | None = None,
    on_step_end: Callable[[int], None] | None = None,
) -> TrainResult:
    """Run (or resume) the optimisation of `model`'s trainable parameters for `config.max_steps` steps.

    Args:
        config: the run settings.
        model: the module whose `requires_grad` parameters are trained; prepared (moved, wrapped) here.
        compute_loss: `(prepared_model, micro_batch_index) -> LossOutput`.
        accelerator: from `make_accelerator`.
        summary: extra fields for `summary.json` (data, truncation, model).
        on_step_end: called with the step number after each optimizer step (and its checkpoint).

    Returns:
        A `TrainResult`; `model` holds the trained weights.

    Example:
        ```python
        >>> result = train_loop(config=cfg, model=t2l, compute_loss=loss_fn, accelerator=make_accelerator(cfg))
        ```
    """
    out_dir = Path(config.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters; nothing to train.")
    optimizer = _adamw(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _warmup_linear_decay(config.warmup_steps, config.max_steps)
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    unwrapped = accelerator.unwrap_model(model)

    state = TrainState()
    checkpoints = list_checkpoints(out_dir)
    if checkpoints and not config.resume:
        # a fresh run would interleave its checkpoints with the old ones (and prune by step number)
        raise ValueError(
            f"output_dir={str(out_dir)!r} holds checkpoints of an earlier run (latest {checkpoints[-1].name}); pass "
            "resume=true to continue it, or choose a new output_dir."
        )
    if checkpoints:
        state = load_checkpoint(
            checkpoints[-1], model=unwrapped, optimizer=optimizer, scheduler=scheduler, rank=accelerator.process_index
        )
        accelerator.print(f"resumed from {checkpoints[-1]} (step {state.step})")
    elif config.resume:
        accelerator.print(f"resume=true but {out_dir} has no checkpoint yet; starting from step 0")
    logger = _MetricsLogger(out_dir, config, accelerator, start_step=state.step)

    losses: list[float] = []
    start_time, start_tokens = time.perf_counter(), state.tokens
    progress = _progress_bar(config, accelerator, state.step)
    while state.step < config.max_steps:
        model.train()
        step_loss, step_tokens, step_metrics = 0.0, 0, {}
        for micro in range(config.gradient_accumulation_steps):
            last = micro == config.gradient_accumulation_steps - 1
            with accelerator.no_sync(model) if not last else nullcontext():
                with accelerator.autocast():
                    out = compute_loss(model, state.micro_batches)
                accelerator.backward(out.loss / config.gradient_accumulation_steps)
            state.micro_batches += 1
            step_loss += out.loss.item() / config.gradient_accumulation_steps
            step_tokens += out.tokens
            for k, v in out.metrics.items():
                step_metrics[k] = step_metrics.get(k, 0.0) + v / config.gradient_accumulation_steps
        grad_norm = accelerator.clip_grad_norm_(params, config.max_grad_norm) if config.max_grad_norm > 0 else None
        lr = scheduler.get_last_lr()[0]  # the rate this step used
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1

        reduced = accelerator.reduce(torch.tensor([step_loss, float(step_tokens)], device=accelerator.device), "sum")
        step_loss = reduced[0].item() / accelerator.num_processes
        state.tokens += int(reduced[1].item())
        losses.append(step_loss)
        elapsed = time.perf_counter() - start_time
        tokens_per_s = (state.tokens - start_tokens) / max(elapsed, 1e-9)
        logger.add(step_loss, step_metrics)
        if state.step % config.log_every == 0 or state.step == config.max_steps:
            logger.flush(
                state.step,
                lr=lr,
                grad_norm=None if grad_norm is None else float(grad_norm),
                tokens_per_s=tokens_per_s,
                elapsed_s=elapsed,
            )
        if progress is not None:
            progress.set_postfix(loss=f"{step_loss:.4f}", tok_s=f"{tokens_per_s:.0f}", refresh=False)
            progress.update(1)
        out_of_time = _out_of_time(config, accelerator, elapsed)
        if state.step % config.save_every == 0 or state.step == config.max_steps or out_of_time:
            _save(out_dir, config, accelerator, unwrapped, optimizer, scheduler, state)
        if on_step_end is not None:
            on_step_end(state.step)
        if out_of_time:
            summary = {
                **(summary or {}),
                "stopped_early": f"max_minutes={config.max_minutes} reached at step {state.step}",
            }
            accelerator.print(f"stopping at step {state.step} of {config.max_steps}: max_minutes={config.max_minutes}")
            break
    if progress is not None:
        progress.close()
    logger.close()

    final = _summary(config, state, losses, time.perf_counter() - start_time, summary)
    if accelerator.is_main_process:
        (out_dir / SUMMARY_FILE).write_text(json.dumps(final, indent=1))
        accelerator.print(_format_summary(final))
    return TrainResult(output_dir=out_dir, losses=losses, state=state, summary=final)


def trainable_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The trainable parameters and the persistent buffers of `model` (all a checkpoint needs to restore)."""
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    buffers = {name for name, _ in model.named_buffers()}
    return {k: v for k, v in model.state_dict().items() if k in trainable or k in buffers}


# ---- pieces ------------------------------------------------------------------------------------------------------


def _adamw(model: nn.Module, config: RunConfig) -> torch.optim.AdamW:
    # no weight decay on 1-d tensors (biases, norm gains, learned vectors): decay there only shrinks offsets and gains
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(
        [g for g in groups if g["params"]], lr=config.learning_rate, betas=(config.adam_beta1, config.adam_beta2)
    )


def _warmup_linear_decay(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def _save(out_dir, config, accelerator, unwrapped, optimizer, scheduler, state) -> None:
    rng_states = gather_object([rng_state()]) if accelerator.num_processes > 1 else [rng_state()]
    if accelerator.is_main_process:
        save_checkpoint(
            out_dir,
            model_state=trainable_state_dict(unwrapped),
            optimizer=optimizer,
            scheduler=scheduler,
            state=state,
            config=config_to_dict(config),
            rng_states=rng_states,
            keep=config.keep_checkpoints,
        )
    accelerator.wait_for_everyone()


def _progress_bar(config: RunConfig, accelerator: Accelerator, start: int):
    if not (config.progress and accelerator.is_main_process):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=config.max_steps, initial=start, desc="train", unit="step", dynamic_ncols=True)


class _MetricsLogger:
    """Averages step metrics over the logging window; writes metrics.jsonl (and TensorBoard) on the main process."""

    def __init__(self, out_dir: Path, config: RunConfig, accelerator: Accelerator, *, start_step: int):
        self.enabled = accelerator.is_main_process
        self.path = out_dir / METRICS_FILE
        self.window: list[tuple[float, dict[str, float]]] = []
        self.tb = None
        if not self.enabled:
            return
        # lines written after the checkpoint we resume from describe steps that will run again
        kept = []
        if self.path.exists() and start_step > 0:
            kept = [line for line in self.path.read_text().splitlines() if json.loads(line)["step"] <= start_step]
        self.path.write_text("".join(line + "\n" for line in kept))
        if config.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as err:
                raise ValueError("tensorboard=true needs the tensorboard package: pip install tensorboard") from err
            self.tb = SummaryWriter(str(out_dir / "tensorboard"))

    def add(self, loss: float, metrics: dict[str, float]) -> None:
        self.window.append((loss, metrics))

    def flush(self, step: int, **extra: float | None) -> None:
        if not self.window:
            return
        row: dict[str, Any] = {"step": step, "loss": sum(loss for loss, _ in self.window) / len(self.window)}
        for key in self.window[0][1]:
            row[key] = sum(m.get(key, 0.0) for _, m in self.window) / len(self.window)
        row.update({k: v for k, v in extra.items() if v is not None})
        self.window.clear()
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.tb is not None:
            for key, value in row.items():
                if key != "step":
                    self.tb.add_scalar(key, value, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _out_of_time(config, accelerator, elapsed_s: float) -> bool:
    if config.max_minutes is None:
        return False
    # every process must stop at the same step, or the others wait forever in the next collective
    late = torch.tensor([float(elapsed_s > 60 * config.max_minutes)], device=accelerator.device)
    return bool(accelerator.reduce(late, "max").item())


def _summary(config, state, losses, wall_s, extra) -> dict[str, Any]:
    tail = losses[-max(1, len(losses) // 10) :] if losses else []
    return {
        "steps": state.step,
        "tokens": state.tokens,
        "final_loss": sum(tail) / len(tail) if tail else math.nan,
        "first_loss": losses[0] if losses else math.nan,
        "wall_time_s": round(wall_s, 2),
        "config": config_to_dict(config),
        **(extra or {}),
    }


def _format_summary(summary: dict[str, Any]) -> str:
    lines = [
        f"done: {summary['steps']} steps, {summary['tokens']} tokens in {summary['wall_time_s']:.1f} s; "
        f"loss {summary['first_loss']:.4f} -> {summary['final_loss']:.4f} (mean of the last 10% of steps)"
    ]
    if summary.get("stopped_early"):
        lines.append(f"stopped early: {summary['stopped_early']}; resume=true continues towards max_steps")
    truncation = summary.get("truncation")
    if truncation and (truncation["prompts_truncated"] or truncation["responses_truncated"]):
        lines.append(
            f"truncated: {truncation['prompts_truncated']} prompts, {truncation['responses_truncated']} responses "
            f"of {truncation['examples']} examples"
        )
    return "\n".join(lines)
