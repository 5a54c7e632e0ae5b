"""Checkpoints that resume a run exactly: trainable weights, optimizer, scheduler, RNG and data position.

Layout of `<output_dir>/checkpoints/step-000200/`: `model.safetensors`, `optimizer.safetensors` +
`optimizer.json`, `rng.safetensors`, `state.json` (step, data position, scheduler, Python RNG), `config.json`.
Only safetensors and JSON. A checkpoint is written into a hidden temp folder and renamed into place, so a killed
write never replaces a good checkpoint and a half-written folder is never read.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

CHECKPOINTS = "checkpoints"
_STEP_DIR = re.compile(r"^step-(\d+)$")


@dataclass
class TrainState:
    """Where a run is: optimizer steps done and micro-batches consumed (the data position)."""

    step: int = 0
    micro_batches: int = 0
    tokens: int = 0


def save_checkpoint(
    output_dir: str | Path,
    *,
    model_state: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    state: TrainState,
    config: dict[str, Any],
    rng_states: list[dict[str, Any]] | None = None,
    keep: int = 2,
) -> Path:
    """Write a checkpoint atomically and prune old ones; returns its folder.

    Args:
        output_dir: the run folder.
        model_state: the trainable tensors (and buffers) to restore.
        optimizer: the optimizer (its state is saved as tensors plus JSON param groups).
        scheduler: the learning-rate scheduler.
        state: step and data position.
        config: the training config as plain values.
        rng_states: `rng_state()` of every process, in rank order (default: this process only).
        keep: how many recent checkpoints to keep.

    Example:
        ```python
        >>> save_checkpoint("runs/sft", model_state=sd, optimizer=opt, scheduler=sched, state=state, config=cfg)
        ```
    """
    root = Path(output_dir) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{state.step:06d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=root))
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in model_state.items()}, tmp / "model.safetensors")
        opt_tensors, opt_meta = _optimizer_to_safetensors(optimizer.state_dict())
        save_file(opt_tensors, tmp / "optimizer.safetensors")
        _write_json(tmp / "optimizer.json", opt_meta)
        rng_states = rng_states or [rng_state()]
        rng_tensors = {f"rank{r}.{k}": s[k] for r, s in enumerate(rng_states) for k in ("torch", "cuda") if k in s}
        save_file(rng_tensors, tmp / "rng.safetensors")
        _write_json(
            tmp / "state.json",
            {
                "step": state.step,
                "micro_batches": state.micro_batches,
                "tokens": state.tokens,
                "scheduler": scheduler.state_dict(),
                "python_random": [s["python"] for s in rng_states],
                "numpy_random": [s["numpy"] for s in rng_states],
            },
        )
        _write_json(tmp / "config.json", config)
        if final.exists():  # re-saving the same step (e.g. the final save after a periodic one)
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for old in list_checkpoints(output_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def is_checkpoint_folder(folder: str | Path) -> bool:
    """True when `folder` is one checkpoint of a run (`step-N/`), which holds the run's config, not a model's."""
    return (Path(folder) / "state.json").is_file() and (Path(folder) / "optimizer.safetensors").is_file()


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first (temp folders of killed writes are skipped)."""
    root = Path(output_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def load_checkpoint(
    folder: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    rank: int = 0,
) -> TrainState:
    """Restore weights, optimizer, scheduler and this rank's RNG from `folder`; returns the step and data position.

    Example:
        ```python
        >>> state = load_checkpoint(list_checkpoints("runs/sft")[-1], model=m, optimizer=opt, scheduler=sched)
        ```
    """
    folder = Path(folder)
    try:
        weights = load_file(folder / "model.safetensors")
    except SafetensorError as err:
        raise ValueError(f"checkpoint {folder}: model.safetensors is corrupt or truncated ({err}).") from None
    try:
        result = model.load_state_dict(weights, strict=False)
    except RuntimeError as err:  # "size mismatch for ...": the run was started with other model settings
        raise ValueError(
            f"checkpoint {folder} has tensors of other shapes than this model ({str(err).strip()[:300]}); resume "
            "with the same model settings as the run that wrote it (see its config.json)."
        ) from None
    if result.unexpected_keys:
        raise ValueError(
            f"checkpoint {folder} holds weights this model lacks ({result.unexpected_keys[:3]}); resume with the "
            "same model settings as the run that wrote it (see its config.json)."
        )
    optimizer.load_state_dict(
        _optimizer_from_safetensors(load_file(folder / "optimizer.safetensors"), _read_json(folder / "optimizer.json"))
    )
    meta = _read_json(folder / "state.json")
    scheduler.load_state_dict(meta["scheduler"])
    rng = load_file(folder / "rng.safetensors")
    if f"rank{rank}.torch" not in rng:
        raise ValueError(f"checkpoint {folder} was written by fewer processes; resume with the same process count.")
    torch.set_rng_state(rng[f"rank{rank}.torch"])
    if f"rank{rank}.cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng[f"rank{rank}.cuda"])
    random.setstate(_from_json(meta["python_random"][rank]))
    np.random.set_state(_from_json(meta["numpy_random"][rank]))
    return TrainState(step=meta["step"], micro_batches=meta["micro_batches"], tokens=meta["tokens"])


def rng_state() -> dict[str, Any]:
    """This process's torch (CPU and current CUDA device), Python and NumPy RNG states, gathered before a save."""
    state = {
        "torch": torch.get_rng_state(),
        "python": _to_json(random.getstate()),
        "numpy": _to_json(np.random.get_state()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


# ---- tensors and JSON ----------------------------------------------------------------------------------------------


def _optimizer_to_safetensors(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, scalars = {}, {}
    for index, param_state in state_dict["state"].items():
        for name, value in param_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _optimizer_from_safetensors(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for key, value in list(tensors.items()) + list(meta["scalars"].items()):
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _to_json(value: Any) -> Any:
    """RNG states are nested tuples with ints and numpy arrays; make them JSON lists."""
    if isinstance(value, np.ndarray):
        return {"ndarray": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, (tuple, list)):
        return [_to_json(v) for v in value]
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict) and "ndarray" in value:
        return np.array(value["ndarray"], dtype=value["dtype"])
    if isinstance(value, list):
        return tuple(_from_json(v) for v in value)
    return value


def _write_json(path: Path, data: Any) -> None:
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text())
