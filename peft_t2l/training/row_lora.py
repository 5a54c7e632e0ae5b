"""A different generated LoRA for every batch row, applied to a frozen base model with forward hooks.

Each target Linear returns `out + scaling * (x @ A_row^T) @ B_row^T`, batched over rows with `bmm`. The generated
factors stay in the autograd graph, so the loss reaches the hypernetwork and nothing else. The result equals PEFT's
LoRA output for the same factors (tests/test_training_sft.py checks it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import torch
from torch import nn

from ..configuration_t2l import T2LConfig


class RowLoRA:
    """Forward hooks on a base model's target modules that add a per-row LoRA while `apply(...)` is active.

    Args:
        base_model: the causal LM (module paths in `config.module_paths` are relative to it).
        config: the T2L config that names target modules, layers and the LoRA scaling.

    Example:
        ```python
        >>> row_lora = RowLoRA(base_model, t2l.config)
        >>> out = t2l(task_embeddings)  # one row per batch row
        >>> with row_lora.apply(out.lora_A, out.lora_B):
        ...     logits = base_model(input_ids=ids, attention_mask=mask).logits
        >>> row_lora.remove()
        ```
    """

    def __init__(self, base_model: nn.Module, config: T2LConfig):
        self.config = config
        self.scaling = config.scaling
        self._lora_A: dict[str, torch.Tensor] | None = None
        self._lora_B: dict[str, torch.Tensor] | None = None
        self._dropout = 0.0
        self._handles = []
        for module_name in config.target_modules:
            for layer in range(config.num_layers):
                path = config.module_paths[module_name].format(layer=layer)
                try:
                    target = base_model.get_submodule(path)
                except AttributeError as err:
                    raise ValueError(
                        f"the base model has no module {path!r}, which the T2L model targets; use the base model "
                        f"{config.base_model_name_or_path!r} the T2L model was built for."
                    ) from err
                self._handles.append(target.register_forward_hook(partial(self._hook, module_name, layer)))

    @contextmanager
    def apply(
        self, lora_A: dict[str, torch.Tensor], lora_B: dict[str, torch.Tensor], *, dropout: float = 0.0
    ) -> Iterator[None]:
        """Add the LoRA of row `i` of `lora_A`/`lora_B` (`[batch, layers, r, in]` / `[batch, layers, out, r]`)
        to row `i` of every base-model forward inside the block.

        Args:
            lora_A: module name -> A factors.
            lora_B: module name -> B factors.
            dropout: LoRA dropout on the module input (as PEFT's `lora_dropout`; pass 0 at evaluation).
        """
        self._lora_A, self._lora_B, self._dropout = lora_A, lora_B, dropout
        try:
            yield
        finally:
            self._lora_A = self._lora_B = None

    def remove(self) -> None:
        """Detach the hooks; the base model is untouched afterwards."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, module_name: str, layer: int, module: nn.Module, inputs: tuple, output: torch.Tensor):
        if self._lora_A is None:  # outside apply(): the plain base model
            return output
        x = inputs[0]  # [B, T, in]
        a = self._lora_A[module_name][:, layer]  # [B, r, in]
        b = self._lora_B[module_name][:, layer]  # [B, out, r]
        if a.shape[0] != x.shape[0]:
            raise ValueError(
                f"the generated LoRA has {a.shape[0]} rows but the batch has {x.shape[0]}; generate one per row."
            )
        if self._dropout > 0:
            x = nn.functional.dropout(x, p=self._dropout, training=True)
        h = torch.bmm(x.to(a.dtype), a.transpose(1, 2))  # [B, T, r]
        delta = torch.bmm(h, b.transpose(1, 2))  # [B, T, out]
        return output + (self.scaling * delta).to(output.dtype)
