"""Plain PEFT LoRA baselines on the same data pipeline: one LoRA per task ("oracle") or one on all tasks (multi-task).

The oracle LoRAs also form the library that reconstruction training reproduces. Every result is a standard PEFT
folder (`adapter_config.json` + `adapter_model.safetensors`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from accelerate.utils import set_seed
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn

from ..data import Task, TaskMixSampler
from ..peft_format import ADAPTER_CONFIG, ADAPTER_WEIGHTS
from ..safe_io import is_adapter_folder, write_folder
from .config import LoraTrainConfig
from .engine import LossOutput, TrainResult, make_accelerator, train_loop
from .inputs import frozen_base, tokenize_tasks, training_tasks
from .losses import neftune, plan_batch, response_loss

ADAPTERS_DIR = "adapters"  # oracle: <output_dir>/adapters/<task>/
ADAPTER_DIR = "adapter"  # multitask: <output_dir>/adapter/


@dataclass
class LoraTrainResult:
    """Saved adapters and the loop result of each run.

    Args:
        adapter_dirs: task name (oracle) or `"multitask"` -> PEFT folder.
        runs: the same keys -> `TrainResult` (absent for oracle tasks skipped on resume).
    """

    adapter_dirs: dict[str, Path]
    runs: dict[str, TrainResult]


def train_lora(
    config: LoraTrainConfig,
    *,
    base_model: nn.Module | None = None,
    tokenizer=None,
    tasks: list[Task] | None = None,
    on_step_end: Callable[[int], None] | None = None,
) -> LoraTrainResult:
    """Train oracle LoRAs (one per task) or one multi-task LoRA, saving PEFT folders.

    With `mode="oracle"` each task trains for `max_steps` on batches of `tasks_per_batch * examples_per_task` of its
    own examples; with `resume=true` finished tasks (whose folder exists) are skipped.

    Args:
        config: the run.
        base_model: the causal LM (default: load `config.base_model`); its weights stay frozen.
        tokenizer: its tokenizer (required with `base_model`).
        tasks: train on these tasks (default: load `config.data`).
        on_step_end: called with the step number after each optimizer step.

    Example:
        ```python
        >>> result = train_lora(load_config(LoraTrainConfig, "configs/lora_oracle_smollm2_sni.yaml"))
        ```
    """
    accelerator = make_accelerator(config)
    tasks = training_tasks(config, tasks)
    base_model, tokenizer = frozen_base(config, base_model, tokenizer, accelerator.device)
    out = Path(config.output_dir)
    if config.mode == "multitask":
        run = _train_one(config, base_model, tokenizer, tasks, out / ADAPTER_DIR, accelerator, on_step_end)
        return LoraTrainResult(adapter_dirs={"multitask": out / ADAPTER_DIR}, runs={"multitask": run})

    dirs, runs = {}, {}
    batch_size = config.tasks_per_batch * config.examples_per_task
    for task in tasks:
        target = out / ADAPTERS_DIR / task.name
        dirs[task.name] = target
        if config.resume and (target / ADAPTER_WEIGHTS).exists():
            accelerator.print(f"oracle LoRA for {task.name} exists; skipping")
            continue
        task_config = replace(
            config, output_dir=str(out / "runs" / task.name), tasks_per_batch=1, examples_per_task=batch_size
        )
        runs[task.name] = _train_one(task_config, base_model, tokenizer, [task], target, accelerator, on_step_end)
        accelerator.free_memory()  # drop the finished run's wrapped model and optimizer
    return LoraTrainResult(adapter_dirs=dirs, runs=runs)


def _train_one(config, base_model, tokenizer, tasks, target: Path, accelerator, on_step_end) -> TrainResult:
    set_seed(config.seed)
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
        task_type="CAUSAL_LM",
        bias="none",
    )
    if config.init_from:  # continue a saved adapter (e.g. to give a baseline as many steps as the T2L had)
        saved = check_init_adapter(config.init_from, lora)
        peft_model = PeftModel.from_pretrained(base_model, config.init_from, is_trainable=True, config=saved)
    else:
        peft_model = get_peft_model(base_model, lora)
    data = tokenize_tasks(config, tasks, tokenizer)
    sampler = TaskMixSampler(
        tasks,
        tasks_per_batch=config.tasks_per_batch,
        examples_per_task=config.examples_per_task,
        seed=config.seed,
        rank=accelerator.process_index,
    )

    def compute_loss(model: nn.Module, index: int) -> LossOutput:
        batch = plan_batch(data, sampler.plan(index), pad_token_id=tokenizer.pad_token_id, device=accelerator.device)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = response_loss(
            logits, batch["labels"], label_smoothing=config.label_smoothing, per_example=config.loss_per_example
        )
        if config.loss_per_example:
            loss = loss.mean()
        return LossOutput(loss=loss, tokens=int(batch["attention_mask"].sum()))

    regime = "multitask_lora" if config.mode == "multitask" else "oracle_lora"
    summary = {"regime": regime, "tasks": [t.name for t in tasks], "truncation": data.truncation.as_dict()}
    with neftune(base_model, config.neftune_noise_alpha):
        result = train_loop(
            config=config,
            model=peft_model,
            compute_loss=compute_loss,
            accelerator=accelerator,
            summary=summary,
            on_step_end=on_step_end,
        )
    peft_model = accelerator.unwrap_model(peft_model)
    if accelerator.is_main_process:  # whole or not at all: a resumed run takes a present adapter as finished
        with write_folder(target, what="trained LoRA adapter", replaceable=is_adapter_folder) as tmp:
            peft_model.save_pretrained(tmp)
    accelerator.wait_for_everyone()
    peft_model.unload()  # the next task starts from the untouched base model
    return result


def check_init_adapter(folder: str, wanted: LoraConfig) -> LoraConfig:
    """The saved LoRA config of `folder`, with the run's dropout; fails with the fix when its shape differs.

    Rank, alpha and target modules must match (they are the adapter's shape and scale); dropout is a training setting,
    so the continued run uses the configured one rather than the saved one.

    Example:
        ```python
        >>> check_init_adapter("runs/mt_lora/adapter", LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj"]))
        ```
    """
    path = Path(folder)
    if not (path / ADAPTER_CONFIG).is_file() or not (path / ADAPTER_WEIGHTS).is_file():
        raise ValueError(
            f"init_from={folder!r} is not a PEFT adapter folder ({ADAPTER_CONFIG} + {ADAPTER_WEIGHTS}); "
            "point it at the `adapter` folder of a finished run."
        )
    saved = LoraConfig.from_pretrained(folder)
    for name, field_name in (("r", "lora_rank"), ("lora_alpha", "lora_alpha"), ("target_modules", "target_modules")):
        have, want = getattr(saved, name), getattr(wanted, name)
        if name == "target_modules":
            have, want = sorted(have), sorted(want)
        if have != want:
            raise ValueError(
                f"init_from={folder!r} has {name}={have!r} but {field_name}={want!r}; set {field_name}={have!r} "
                "to continue that adapter."
            )
    saved.lora_dropout = wanted.lora_dropout
    return saved
