"""Reconstruction training: the hypernetwork learns to reproduce a library of LoRA folders, one per task.

The loss is L1 on the LoRA factors, or on `deltaW = scaling * B @ A`. With `normalize=true` the factors are z-scored
per position across the library: the per-position std and mean go into the model's `output_scale_*`/`output_shift_*`
buffers, so the trunk learns in normalised units while the model still outputs raw-scale weights.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate.utils import set_seed
from torch import nn

from ..configuration_t2l import T2LConfig
from ..data import Task, load_tasks
from ..modeling_t2l import T2LModel
from ..peft_format import ADAPTER_WEIGHTS, read_lora_folder
from .config import ReconConfig
from .engine import LossOutput, make_accelerator, train_loop
from .sft import T2LTrainResult, build_t2l, save_trained_t2l

ERRORS_FILE = "recon_errors.json"


@dataclass
class LoraLibrary:
    """A stack of LoRAs, one per task, in T2L's layout.

    Args:
        task_names: task order of the stacks.
        lora_A: module -> `[tasks, layers, r, in]`.
        lora_B: module -> `[tasks, layers, out, r]`, rescaled to the T2L config's LoRA scaling.
    """

    task_names: list[str]
    lora_A: dict[str, torch.Tensor]
    lora_B: dict[str, torch.Tensor]

    @classmethod
    def load(cls, folder: str | Path, config: T2LConfig, *, names: list[str] | None = None) -> LoraLibrary:
        """Read `<folder>/<task>/adapter_model.safetensors` for every task folder (or the given `names`).

        Args:
            folder: the library (e.g. the `adapters/` folder of `t2l train lora mode=oracle`).
            config: the T2L config whose target modules, layers and rank the LoRAs must match.
            names: the tasks to read, in order (default: every sub-folder with an adapter, sorted).

        Example:
            ```python
            >>> library = LoraLibrary.load("runs/oracle/adapters", t2l.config)
            ```
        """
        root = Path(folder)
        names = names if names is not None else _library_names(root)
        per_task = [read_lora_folder(root / name, config) for name in names]
        lora_A = {m: torch.stack([a for a, _ in (t[m] for t in per_task)]) for m in config.target_modules}
        lora_B = {m: torch.stack([b for _, b in (t[m] for t in per_task)]) for m in config.target_modules}
        return cls(task_names=list(names), lora_A=lora_A, lora_B=lora_B)

    def set_normalization(self, model: T2LModel) -> None:
        """Store the per-position std/mean across tasks in the model's output affine buffers."""
        for m in model.config.target_modules:
            for part, stack in (("A", self.lora_A[m]), ("B", self.lora_B[m])):
                mean = stack.mean(dim=0)  # [L, r, in] or [L, out, r]
                # one task has no spread; a unit scale then leaves the raw values as the target
                std = (
                    stack.std(dim=0, unbiased=False).clamp_min(1e-6)
                    if len(self.task_names) > 1
                    else torch.ones_like(mean)
                )
                getattr(model, f"output_scale_{part}_{m}").copy_(std)
                getattr(model, f"output_shift_{part}_{m}").copy_(mean)


def train_recon(
    config: ReconConfig,
    *,
    t2l_model: T2LModel | None = None,
    tasks: list[Task] | None = None,
    on_step_end: Callable[[int], None] | None = None,
) -> T2LTrainResult:
    """Train a T2L model to reproduce the LoRAs in `config.library`, then save it to `<output_dir>/model`.

    Per-task errors before and after training are written to `<output_dir>/recon_errors.json`.

    Args:
        config: the run.
        t2l_model: start from this hypernetwork (default: `config.init_from`, or a new one for `config.base_model`).
        tasks: tasks giving the descriptions (default: load `config.data`; not needed for one-hot encoders).
        on_step_end: called with the step number after each optimizer step.

    Example:
        ```python
        >>> result = train_recon(load_config(ReconConfig, "configs/recon_smollm2_sni.yaml"))
        ```
    """
    set_seed(config.seed)
    accelerator = make_accelerator(config)
    library_names = _library_names(config.library)
    t2l = t2l_model
    if t2l is None:
        t2l = build_t2l(config, config.base_model, library_names, use_output_affine=config.normalize)
    if config.normalize and not t2l.config.use_output_affine:
        raise ValueError(
            "ReconConfig.normalize=True needs a T2L model with use_output_affine=True (it holds the per-position "
            "std/mean); build it with use_output_affine=True or set normalize=false."
        )
    one_hot = t2l.config.encoder_type == "one_hot"
    by_name = {t.name: t for t in (tasks if tasks is not None else _description_tasks(config))}
    missing = [n for n in library_names if n not in by_name]
    if missing and not one_hot:
        raise ValueError(f"no descriptions for library tasks {missing[:3]}; add their task files to `data`.")
    library = LoraLibrary.load(config.library, t2l.config, names=library_names)
    if config.normalize:
        library.set_normalization(t2l)
    t2l.to(accelerator.device)
    targets_A = {m: a.to(accelerator.device) for m, a in library.lora_A.items()}
    targets_B = {m: b.to(accelerator.device) for m, b in library.lora_B.items()}

    def descriptions_for(task_ids: list[int], rng: random.Random) -> list[str]:
        names = [library.task_names[i] for i in task_ids]
        return names if one_hot else [rng.choice(by_name[n].descriptions) for n in names]

    def compute_loss(model: nn.Module, index: int) -> LossOutput:
        rng = random.Random(f"{config.seed}/{accelerator.process_index}/{index}")
        ids = rng.sample(range(len(library.task_names)), min(config.tasks_per_batch, len(library.task_names)))
        with torch.no_grad():
            task_embeddings = t2l.embed_descriptions(descriptions_for(ids, rng))  # [n, E]
        out = model(task_embeddings)
        index_t = torch.tensor(ids, device=accelerator.device)
        loss = recon_loss(t2l, out.lora_A, out.lora_B, targets_A, targets_B, index_t, config=config)
        return LossOutput(loss=loss, tokens=0)

    errors_before = reconstruction_errors(t2l, library, descriptions_for)
    result = train_loop(
        config=config,
        model=t2l,
        compute_loss=compute_loss,
        accelerator=accelerator,
        summary={"regime": "reconstruction", "tasks": library.task_names},
        on_step_end=on_step_end,
    )
    t2l = accelerator.unwrap_model(t2l)
    errors_after = reconstruction_errors(t2l, library, descriptions_for)
    result.summary["recon_error_before"] = _mean_errors(errors_before)
    result.summary["recon_error_after"] = _mean_errors(errors_after)
    if accelerator.is_main_process:
        report = {"before": errors_before, "after": errors_after}
        (Path(config.output_dir) / ERRORS_FILE).write_text(json.dumps(report, indent=1))
        accelerator.print(f"reconstruction error (mean L1 on A and B): {result.summary['recon_error_before']['l1']:.5f}"
                          f" -> {result.summary['recon_error_after']['l1']:.5f}")  # fmt: skip
    model_dir = save_trained_t2l(t2l, config, result, is_main_process=accelerator.is_main_process)
    accelerator.wait_for_everyone()
    return T2LTrainResult(model=t2l, model_dir=model_dir, train=result)


def recon_loss(model, lora_A, lora_B, targets_A, targets_B, index: torch.Tensor, *, config: ReconConfig):
    """L1 between generated and library LoRAs of tasks `index`, averaged over target modules.

    `loss_on="lora"`: on A and B, divided by the per-position std when `normalize` (z-scored units).
    `loss_on="delta_w"`: on `scaling * B @ A`.
    """
    c = model.config
    terms = []
    for m in c.target_modules:
        a, b = lora_A[m], lora_B[m]  # [n, L, r, in], [n, L, out, r]
        ta, tb = targets_A[m][index], targets_B[m][index]
        if config.loss_on == "delta_w":
            delta = c.scaling * (b @ a - tb @ ta)  # [n, L, out, in]
            terms.append(delta.abs().mean())
            continue
        da, db = a - ta, b - tb
        if config.normalize:
            da = da / getattr(model, f"output_scale_A_{m}")
            db = db / getattr(model, f"output_scale_B_{m}")
        terms.append((da.abs().mean() + db.abs().mean()) / 2)
    return torch.stack(terms).mean()


@torch.no_grad()
def reconstruction_errors(model: T2LModel, library: LoraLibrary, descriptions_for) -> dict[str, dict[str, float]]:
    """Per task: mean L1 on A and B (raw scale) and relative error of deltaW, `||dW - dW*|| / ||dW*||`."""
    was_training = model.training
    model.eval()
    ids = list(range(len(library.task_names)))
    out = model(model.embed_descriptions(descriptions_for(ids, random.Random(0))))
    model.train(was_training)
    errors = {}
    for i, name in enumerate(library.task_names):
        l1, num, den = [], 0.0, 0.0
        for m in model.config.target_modules:
            a, b = out.lora_A[m][i], out.lora_B[m][i]
            ta, tb = library.lora_A[m][i].to(a.device), library.lora_B[m][i].to(a.device)
            l1 += [(a - ta).abs().mean().item(), (b - tb).abs().mean().item()]
            num += (b @ a - tb @ ta).square().sum().item()
            den += (tb @ ta).square().sum().item()
        errors[name] = {"l1": sum(l1) / len(l1), "rel_delta_w": (num / den) ** 0.5 if den > 0 else float("nan")}
    return errors


def _mean_errors(errors: dict[str, dict[str, float]]) -> dict[str, float]:
    keys = next(iter(errors.values())).keys()
    return {k: sum(e[k] for e in errors.values()) / len(errors) for k in keys}


def _library_names(folder: str | Path) -> list[str]:
    """The task folders of a library (those holding an adapter), sorted."""
    root = Path(folder)
    names = sorted(p.name for p in root.iterdir() if (p / ADAPTER_WEIGHTS).exists()) if root.is_dir() else []
    if not names:
        raise ValueError(
            f"library={str(folder)!r} holds no LoRA folders (<task>/{ADAPTER_WEIGHTS}); train them first with "
            "`t2l train lora mode=oracle` and point library at its adapters/ folder."
        )
    return names


def _description_tasks(config: ReconConfig) -> list[Task]:
    if not config.data:
        return []
    return [t.hold_out_descriptions(config.num_holdout_descriptions) for t in load_tasks(config.data)]
