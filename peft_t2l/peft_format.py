"""PEFT's LoRA format, as T2L reads and writes it: the adapter config, the state-dict keys and the folder layout.

A T2L model's output (`[batch, layers, ...]` factors per module type) becomes one plain `peft_type: LORA` state dict
per description, keyed as PEFT keys it (`base_model.model.<module path>.lora_A.weight`), and a folder of such an
adapter is read back into per-module stacks for training. Nothing here needs a T2L model, only its config.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from peft import LoraConfig
from safetensors.torch import load_file

from .configuration_t2l import T2LConfig

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
PEFT_PREFIX = "base_model.model."


def lora_config(config: T2LConfig) -> LoraConfig:
    """The plain PEFT config of every adapter a T2L model with `config` writes.

    Args:
        config: the T2L model's config (rank, alpha, target modules, base model).

    Example:
        ```python
        >>> lora_config(T2LConfig()).r
        8
        ```
    """
    return LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        use_rslora=config.use_rslora,
        target_modules=list(config.target_modules),
        base_model_name_or_path=config.base_model_name_or_path,
        task_type="CAUSAL_LM",
        bias="none",
    )


def lora_state_dict(
    config: T2LConfig, lora_A: dict[str, torch.Tensor], lora_B: dict[str, torch.Tensor], index: int
) -> dict[str, torch.Tensor]:
    """PEFT-keyed tensors for row `index` of a T2L output (views into the batch: clone them to keep one alone).

    Args:
        config: the T2L model's config (target modules and their paths in the base model).
        lora_A: module -> `[batch, layers, rank, in]`, as `T2LOutput.lora_A`.
        lora_B: module -> `[batch, layers, out, rank]`, as `T2LOutput.lora_B`.
        index: which description of the batch.

    Example:
        ```python
        >>> out = t2l(task_embeddings)
        >>> tensors = lora_state_dict(t2l.config, out.lora_A, out.lora_B, 0)
        >>> sorted(tensors)[0]
        'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'
        ```
    """
    tensors = {}
    for m in config.target_modules:
        path = PEFT_PREFIX + config.module_paths[m]
        for layer, (a, b) in enumerate(zip(lora_A[m][index].unbind(0), lora_B[m][index].unbind(0))):
            tensors[f"{path.format(layer=layer)}.lora_A.weight"] = a  # [r, in]
            tensors[f"{path.format(layer=layer)}.lora_B.weight"] = b  # [out, r]
    return tensors


def read_lora_folder(folder: str | os.PathLike, config: T2LConfig) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """module -> (A `[L, r, in]`, B `[L, out, r]`) of one PEFT folder, B rescaled to the T2L scaling.

    Args:
        folder: a PEFT LoRA folder (`adapter_config.json`, `adapter_model.safetensors`).
        config: the T2L model the factors are for; its rank must match the folder's.

    Example:
        ```python
        >>> factors = read_lora_folder("runs/oracle/adapters/task001", t2l.config)
        >>> a, b = factors["q_proj"]
        ```
    """
    folder = Path(folder)
    adapter = json.loads((folder / ADAPTER_CONFIG).read_text())
    rank, alpha = adapter.get("r"), adapter.get("lora_alpha")
    if rank != config.lora_rank:
        raise ValueError(f"LoRA {folder} has rank {rank}, the T2L model {config.lora_rank}; set lora_rank={rank}.")
    lib_scaling = alpha / (rank**0.5 if adapter.get("use_rslora") else rank)
    weights = load_file(folder / ADAPTER_WEIGHTS)
    result = {}
    for m in config.target_modules:
        a_list, b_list = [], []
        for layer in range(config.num_layers):
            key = PEFT_PREFIX + config.module_paths[m].format(layer=layer)
            if f"{key}.lora_A.weight" not in weights:
                raise ValueError(
                    f"LoRA {folder} has no weights for {key}; train the library on {config.target_modules}."
                )
            a_list.append(weights[f"{key}.lora_A.weight"].float())
            b_list.append(weights[f"{key}.lora_B.weight"].float())
        # same deltaW under the T2L model's scaling: scaling_t2l * B' @ A = scaling_lib * B @ A
        result[m] = (torch.stack(a_list), torch.stack(b_list) * (lib_scaling / config.scaling))
    return result


def module_path(key: str) -> str:
    """The base-model module a `lora_A` key adapts: `base_model.model.<path>.lora_A.weight` -> `<path>`.

    Example:
        ```python
        >>> module_path("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
        'model.layers.0.self_attn.q_proj'
        ```
    """
    return key[len(PEFT_PREFIX) : -len(".lora_A.weight")]


def with_adapter_name(key: str, adapter_name: str) -> str:
    """A saved-format key as it is inside a `PeftModel`, where the adapter's name sits before `.weight`.

    Example:
        ```python
        >>> with_adapter_name("base_model.model.q_proj.lora_A.weight", "math")
        'base_model.model.q_proj.lora_A.math.weight'
        ```
    """
    return key.replace(".lora_A.weight", f".lora_A.{adapter_name}.weight").replace(
        ".lora_B.weight", f".lora_B.{adapter_name}.weight"
    )
