"""Generation from text, and the old home of everything about generated adapters, now split by what each part is.

- `peft_t2l.generated_lora`: `GeneratedLoRA` (save, push, `to_peft_model`, `load_into`), `check_finite`,
  `check_base_model`.
- `peft_t2l.peft_format`: PEFT's LoRA format (`lora_config`, `lora_state_dict`, `read_lora_folder`, key names).
- `peft_t2l.base_shapes`: `config_from_base_model`, a `T2LConfig` read from a causal LM's module shapes.

Old imports such as `from peft_t2l.adapters import GeneratedLoRA, generate_lora, lora_config` keep working.
"""

from __future__ import annotations

import torch

from .base_shapes import config_from_base_model
from .encoders import add_full_stop, check_descriptions, load_text_encoder
from .generated_lora import GeneratedLoRA, check_base_model, check_finite
from .modeling_t2l import T2LModel
from .peft_format import ADAPTER_CONFIG, ADAPTER_WEIGHTS, PEFT_PREFIX, lora_config, lora_state_dict, read_lora_folder

__all__ = [
    "ADAPTER_CONFIG",
    "ADAPTER_WEIGHTS",
    "GENERATE_CHUNK",
    "PEFT_PREFIX",
    "GeneratedLoRA",
    "check_base_model",
    "check_finite",
    "config_from_base_model",
    "embed_descriptions",
    "generate_lora",
    "lora_config",
    "lora_state_dict",
    "read_lora_folder",
]


def embed_descriptions(model: T2LModel, descriptions: str | list[str]) -> torch.Tensor:
    """Task embeddings `[batch, task_emb_size]` for descriptions, on the model's device and in float32."""
    texts = check_descriptions(descriptions)
    if model.config.add_full_stop:  # the reference's checkpoints were trained on descriptions ending in "."
        texts = [add_full_stop(t) for t in texts]
    if model._text_encoder is None:
        model._text_encoder = load_text_encoder(model.config, device=model.device)
    return model._text_encoder.encode(texts).to(model.device)


# descriptions per hypernetwork forward: bounds the peak memory of a large batch (each row's output is ~MiBs)
GENERATE_CHUNK = 32


@torch.no_grad()
def generate_lora(
    model: T2LModel,
    descriptions: str | list[str],
    *,
    task_embeddings: torch.Tensor | None = None,
    batch_size: int = GENERATE_CHUNK,
) -> GeneratedLoRA | list[GeneratedLoRA]:
    """Turn description(s) into PEFT LoRA adapter(s) with batched forwards of the hypernetwork.

    Args:
        model: the T2L model. Generation runs on its device and in its dtype.
        descriptions: one description (returns one `GeneratedLoRA`) or a list (returns a list, in order).
        task_embeddings: precomputed `[batch, task_emb_size]` embeddings, to skip the text encoder.
        batch_size: descriptions per forward; a long list is generated in chunks of this size to bound memory.

    Each adapter owns its tensors (no views into the batch), so keeping one adapter keeps only its own memory.

    Example:
        ```python
        >>> lora = model.generate_lora("solve grade-school math word problems")
        >>> loras = model.generate_lora(["translate to French", "summarise news articles"])
        ```
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size={batch_size!r} is invalid; use a positive integer such as {GENERATE_CHUNK}.")
    texts = check_descriptions(descriptions)
    if task_embeddings is not None and task_embeddings.shape[0] != len(texts):
        raise ValueError(
            f"task_embeddings has {task_embeddings.shape[0]} rows for {len(texts)} descriptions; pass one per "
            "description."
        )
    source = model.name_or_path or model.config.name_or_path or None
    was_training = model.training
    model.eval()
    loras = []
    try:
        for start in range(0, len(texts), batch_size):
            chunk = texts[start : start + batch_size]
            if task_embeddings is not None:
                emb = task_embeddings[start : start + batch_size]
            else:
                emb = embed_descriptions(model, chunk)  # [B, E]
            out = model(emb.to(model.device))
            for i, text in enumerate(chunk):
                tensors = lora_state_dict(model.config, out.lora_A, out.lora_B, i)
                # a view would keep the whole batch's output alive for as long as this one adapter lives
                tensors = {k: v.clone() for k, v in tensors.items()}
                loras.append(GeneratedLoRA(text, lora_config(model.config), tensors, source))
            del out
    finally:
        model.train(was_training)
    return loras[0] if isinstance(descriptions, str) else loras
