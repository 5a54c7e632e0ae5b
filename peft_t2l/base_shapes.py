"""Reading a causal LM's module shapes into a `T2LConfig`: which Linear modules exist, their sizes and paths.

The base model is built on the meta device from its config, so no weights are loaded or downloaded.
"""

from __future__ import annotations

import dataclasses
import re

import torch
from peft import PeftModel
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig, PreTrainedModel

from .configuration_t2l import T2LConfig
from .defaults import DEFAULT_ENCODER, resolve

_LAYER_INDEX = re.compile(r"\.(\d+)\.")
# fields config_from_base_model reads from the base model itself
_BUILT_FROM_BASE = ("base_model_name_or_path", "in_features", "out_features", "module_paths", "num_layers")


def config_from_base_model(
    base_model: PreTrainedModel | PretrainedConfig | str,
    *,
    target_modules: list[str] | tuple[str, ...] = ("q_proj", "v_proj"),
    lora_rank: int = 8,
    lora_alpha: float | None = None,
    head: str = "M",
    encoder_type: str = "sentence_transformers",
    encoder_name_or_path: str | None = DEFAULT_ENCODER,
    task_emb_size: int | None = None,
    **kwargs,
) -> T2LConfig:
    """A `T2LConfig` for any Llama/Mistral/Qwen2/Gemma-style causal LM, read from its module shapes.

    The model is built on the meta device from its config, so no weights are needed.

    Args:
        base_model: a loaded model, its config, or a Hub id / folder.
        target_modules: short names of the Linear modules to adapt.
        lora_rank: LoRA rank `r`.
        lora_alpha: LoRA alpha (default `2 * lora_rank`).
        head: `"L"`, `"M"` or `"S"`.
        encoder_type: `"sentence_transformers"`, `"llm_last_token"` or `"one_hot"`.
        encoder_name_or_path: the sentence encoder (or LLM) that reads descriptions.
        task_emb_size: size of the encoder's embeddings (read from the encoder when not given).
        **kwargs: any other `T2LConfig` field (latent_size, head_in_size, task_names, ...).

    Example:
        ```python
        >>> model = T2LModel.from_base_model("HuggingFaceTB/SmolLM2-135M-Instruct", head="L")
        ```
    """
    known = {f.name for f in dataclasses.fields(T2LConfig)}
    unknown = sorted(set(kwargs) - known)
    if unknown:  # T2LConfig would keep them as inert attributes, so a typo would silently change nothing
        raise ValueError(
            f"Unknown T2LConfig field(s) {unknown}; the T2L fields are "
            f"{sorted(set(T2LConfig.__annotations__) - set(_BUILT_FROM_BASE))}."
        )
    if isinstance(target_modules, str):
        raise ValueError(f"target_modules={target_modules!r} is a string; pass a list, e.g. [{target_modules!r}].")
    if isinstance(base_model, PeftModel):
        base_model = base_model.get_base_model()
    if isinstance(base_model, PreTrainedModel):
        name = base_model.name_or_path
        modules = dict(base_model.named_modules())
        num_layers = getattr(base_model.config.get_text_config(), "num_hidden_layers", None)
        hidden_size = base_model.config.get_text_config().hidden_size
    else:
        cfg = (
            base_model if isinstance(base_model, PretrainedConfig) else AutoConfig.from_pretrained(resolve(base_model))
        )
        name = base_model if isinstance(base_model, str) else cfg.name_or_path
        with torch.device("meta"):
            meta = AutoModelForCausalLM.from_config(cfg)
        modules = dict(meta.named_modules())
        num_layers = getattr(cfg.get_text_config(), "num_hidden_layers", None)
        hidden_size = cfg.get_text_config().hidden_size
    shapes = _target_shapes(modules, list(target_modules))
    found_layers = {n for s in shapes.values() for n in s["layers"]}
    if num_layers is None:
        num_layers = len(found_layers)
    if task_emb_size is None:
        task_emb_size = _encoder_size(encoder_type, encoder_name_or_path, hidden_size, kwargs.get("task_names"))
    if encoder_type == "llm_last_token" and encoder_name_or_path == DEFAULT_ENCODER:
        encoder_name_or_path = name
    return T2LConfig(
        base_model_name_or_path=name or "",
        target_modules=list(target_modules),
        in_features={m: s["in"] for m, s in shapes.items()},
        out_features={m: s["out"] for m, s in shapes.items()},
        module_paths={m: s["path"] for m, s in shapes.items()},
        num_layers=num_layers,
        lora_rank=lora_rank,
        lora_alpha=float(lora_alpha if lora_alpha is not None else 2 * lora_rank),
        head=head,
        encoder_type=encoder_type,
        encoder_name_or_path=encoder_name_or_path,
        task_emb_size=task_emb_size,
        **kwargs,
    )


def _target_shapes(modules: dict[str, torch.nn.Module], targets: list[str]) -> dict[str, dict]:
    """target -> its `in`/`out` sizes, its path with `{layer}`, and the layers it appears in; one shape per target."""
    linear_names = sorted({n.rsplit(".", 1)[-1] for n, mod in modules.items() if isinstance(mod, torch.nn.Linear)})
    shapes = {}
    for target in targets:
        found = [(n, mod) for n, mod in modules.items() if n.rsplit(".", 1)[-1] == target and _LAYER_INDEX.search(n)]
        if not found or not all(isinstance(mod, torch.nn.Linear) for _, mod in found):
            raise ValueError(
                f"target module {target!r} is not a per-layer Linear module of this base model; choose from "
                f"{linear_names}."
            )
        templates = {_LAYER_INDEX.sub(".{layer}.", n, count=1) for n, _ in found}
        sizes = {(mod.in_features, mod.out_features) for _, mod in found}
        if len(templates) != 1 or len(sizes) != 1:
            raise ValueError(
                f"target module {target!r} has different paths or shapes across layers ({sorted(templates)[:3]}, "
                f"{sorted(sizes)[:3]}); T2L needs one shape per module type. Pick modules that are the same in every layer."
            )
        (in_f, out_f), path = sizes.pop(), templates.pop()
        layers = [int(_LAYER_INDEX.search(n).group(1)) for n, _ in found]
        shapes[target] = {"in": in_f, "out": out_f, "path": path, "layers": layers}
    return shapes


def _encoder_size(encoder_type: str, encoder: str | None, hidden_size: int, task_names) -> int:
    """The task-embedding size the encoder gives; the default encoder's is known, so it is not loaded for it."""
    if encoder_type == "one_hot":
        return len(task_names or [])
    if encoder_type == "llm_last_token":
        if encoder in (None, DEFAULT_ENCODER):
            return hidden_size
        return AutoConfig.from_pretrained(resolve(encoder)).hidden_size
    if encoder == DEFAULT_ENCODER:
        return 384
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve(encoder), device="cpu").get_embedding_dimension()
