"""`GeneratedLoRA`: one adapter a T2L model wrote, and everything done with it: export, upload, attach, hot-swap.

A `GeneratedLoRA` is a `peft.LoraConfig` plus a state dict in PEFT's key format (`peft_format`). Saved, it is an
ordinary `peft_type: LORA` folder that stock PEFT and vLLM load without this package.
"""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from huggingface_hub import ModelCard
from peft import LoraConfig, PeftModel, get_peft_model, set_peft_model_state_dict
from peft.tuners.lora import LoraLayer
from peft.utils.hotswap import hotswap_adapter_from_state_dict
from safetensors.torch import save_file
from transformers import PreTrainedModel

from .hub import adapter_model_card
from .peft_format import ADAPTER_WEIGHTS, module_path, with_adapter_name
from .safe_io import is_adapter_folder, write_folder


@dataclass
class GeneratedLoRA:
    """A LoRA adapter written by a T2L model for one description.

    Args:
        description: the task description it was generated from.
        lora_config: the PEFT config (rank, alpha, target modules, base model).
        state_dict: PEFT-format tensors, e.g. `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`.
        t2l_model: name or path of the T2L model that wrote it, for the model card.
    """

    description: str
    lora_config: LoraConfig
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    t2l_model: str | None = None

    def __repr__(self) -> str:
        c = self.lora_config
        return (
            f"GeneratedLoRA(description={self.description[:60]!r}, base_model={c.base_model_name_or_path!r}, "
            f"r={c.r}, alpha={c.lora_alpha}, target_modules={sorted(c.target_modules)}, tensors={len(self.state_dict)})"
        )

    @property
    def num_parameters(self) -> int:
        return sum(t.numel() for t in self.state_dict.values())

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.state_dict.values())

    def to(self, device=None, dtype: torch.dtype | None = None) -> GeneratedLoRA:
        """A copy with every tensor moved to `device` and/or cast to `dtype`."""
        tensors = {k: v.to(device=device, dtype=dtype) for k, v in self.state_dict.items()}
        return GeneratedLoRA(self.description, copy.deepcopy(self.lora_config), tensors, self.t2l_model)

    # ---- export ------------------------------------------------------------------------------------------------

    def save_pretrained(
        self, save_directory: str | os.PathLike, *, model_card: bool = True, overwrite: bool = True
    ) -> Path:
        """Write `adapter_config.json`, `adapter_model.safetensors` and a README model card.

        The folder is built whole in a temporary sibling and renamed into place, so a reader (or an interrupted save)
        never sees new weights next to an old README; a second writer of the same folder at the same time is refused.
        An existing folder is replaced only if it holds nothing but a previous adapter.

        Args:
            save_directory: folder to write (its parents are created if needed).
            model_card: also write README.md naming the description, the T2L model and the base model.
            overwrite: replace an existing, non-empty adapter folder (False: refuse with a `ValueError`).

        Example:
            ```python
            >>> lora = t2l.generate_lora("classify movie reviews as positive or negative")
            >>> lora.save_pretrained("sentiment-lora")
            >>> PeftModel.from_pretrained(base_model, "sentiment-lora")  # plain PEFT, no peft_t2l needed
            ```
        """
        check_finite(self)
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in self.state_dict.items()}
        card = str(self.model_card()) if model_card else None
        with write_folder(
            save_directory, overwrite=overwrite, what="adapter folder", replaceable=is_adapter_folder
        ) as tmp:
            save_file(tensors, str(tmp / ADAPTER_WEIGHTS), metadata={"format": "pt"})
            self.lora_config.save_pretrained(str(tmp))  # PEFT's own serialisation of its config
            if card is not None:
                (tmp / "README.md").write_text(card, encoding="utf-8")
        return Path(save_directory)

    def model_card(self) -> ModelCard:
        """A `huggingface_hub.ModelCard` for this adapter."""
        return adapter_model_card(self)

    def push_to_hub(
        self, repo_id: str, *, token: str | None = None, private: bool | None = None, commit_message: str | None = None
    ) -> str:
        """Upload this adapter as a PEFT folder to the Hub; returns the commit URL.

        Example:
            ```python
            >>> lora.push_to_hub("me/sentiment-lora")
            ```
        """
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp)
            info = api.upload_folder(
                repo_id=repo_id, folder_path=tmp, commit_message=commit_message or f"LoRA for: {self.description[:60]}"
            )
        return str(info)

    # ---- attaching to a base model -----------------------------------------------------------------------------

    def to_peft_model(self, base_model: PreTrainedModel, *, adapter_name: str = "default") -> PeftModel:
        """Wrap `base_model` in a `PeftModel` carrying this adapter (on the base model's device and dtype).

        If `base_model` already is a `PeftModel`, the adapter is added to it (or swapped in, if the name exists).

        Example:
            ```python
            >>> peft_model = lora.to_peft_model(base_model)
            >>> peft_model.generate(**inputs)
            ```
        """
        if isinstance(base_model, PeftModel):
            return self.load_into(base_model, adapter_name=adapter_name)
        check_base_model(self, base_model)
        with warnings.catch_warnings():  # PEFT warns when it renames base_model_name_or_path; we restore it below
            warnings.simplefilter("ignore", UserWarning)
            peft_model = get_peft_model(base_model, copy.deepcopy(self.lora_config), adapter_name=adapter_name)
        if not base_model.name_or_path:  # a model built in code: keep the id the T2L model was made for
            peft_model.peft_config[adapter_name].base_model_name_or_path = self.lora_config.base_model_name_or_path
        _load_state_dict(peft_model, self, adapter_name)
        return peft_model.eval()

    def load_into(self, peft_model: PeftModel, *, adapter_name: str = "default") -> PeftModel:
        """Add this adapter to `peft_model` under `adapter_name`, or hot-swap it in place if that name exists.

        A swap copies the new tensors into the existing LoRA parameters (no re-wrapping, no new modules), so a
        compiled model or a running server keeps working.
        """
        check_base_model(self, peft_model.get_base_model())
        if adapter_name in peft_model.peft_config:
            target = _first_lora_weight(peft_model, adapter_name)
            tensors = {
                with_adapter_name(k, adapter_name): v.to(target.device, target.dtype)
                for k, v in self.state_dict.items()
            }
            hotswap_adapter_from_state_dict(peft_model, tensors, adapter_name, self.lora_config)
        else:
            peft_model.add_adapter(adapter_name, copy.deepcopy(self.lora_config))
            _load_state_dict(peft_model, self, adapter_name)
        return peft_model.eval()


# ---- checks ------------------------------------------------------------------------------------------------------


def check_finite(lora: GeneratedLoRA) -> None:
    """Raise a `ValueError` if any tensor of `lora` holds NaN or infinity (a broken T2L model or dtype overflow).

    Example:
        ```python
        >>> check_finite(lora)  # before saving or serving it
        ```
    """
    bad = [k for k, v in lora.state_dict.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(
            f"The adapter for {lora.description[:60]!r} has NaN or infinite values in {len(bad)} tensors (e.g. "
            f"{bad[0]}); the T2L model's weights are broken or overflow in this dtype. Load it in float32 or retrain it."
        )


def check_base_model(lora: GeneratedLoRA, base_model: torch.nn.Module) -> None:
    """Raise a `ValueError` if `base_model` lacks a module the adapter targets, or its shape differs.

    Args:
        lora: the adapter.
        base_model: the model it is about to be attached to (plain or already wrapped by PEFT).

    Example:
        ```python
        >>> check_base_model(lora, base_model)  # before to_peft_model: a clear error instead of PEFT's
        ```
    """
    modules = dict(base_model.named_modules())
    for key, tensor in lora.state_dict.items():
        if not key.endswith("lora_A.weight"):
            continue
        path = module_path(key)
        module = modules.get(path)
        module = getattr(module, "base_layer", module)  # already wrapped by PEFT
        if module is None:
            raise ValueError(
                f"The base model has no module {path!r}, which this adapter targets (it was generated for "
                f"{lora.lora_config.base_model_name_or_path!r}); load that base model instead."
            )
        b = lora.state_dict[key.replace("lora_A", "lora_B")]
        if (module.in_features, module.out_features) != (tensor.shape[1], b.shape[0]):
            raise ValueError(
                f"Module {path!r} of the base model is {module.in_features}->{module.out_features}, but the adapter "
                f"expects {tensor.shape[1]}->{b.shape[0]} (generated for {lora.lora_config.base_model_name_or_path!r}); "
                "use the base model the T2L model was built for."
            )


def _first_lora_weight(peft_model: PeftModel, adapter_name: str) -> torch.Tensor:
    for name, param in peft_model.named_parameters():
        if f"lora_A.{adapter_name}." in name:
            return param
    raise ValueError(f"adapter {adapter_name!r} has no LoRA weights in this model.")


def _load_state_dict(peft_model: PeftModel, lora: GeneratedLoRA, adapter_name: str) -> None:
    # PEFT keeps new LoRA weights in float32 under a bf16/fp16 base; we want the adapter in the base model's dtype
    for module in peft_model.modules():
        if isinstance(module, LoraLayer) and adapter_name in module.lora_A:
            dtype = module.get_base_layer().weight.dtype
            module.lora_A[adapter_name].to(dtype)
            module.lora_B[adapter_name].to(dtype)
    target = _first_lora_weight(peft_model, adapter_name)
    tensors = {k: v.to(target.device, target.dtype) for k, v in lora.state_dict.items()}
    result = set_peft_model_state_dict(peft_model, tensors, adapter_name=adapter_name)
    missing = [k for k in result.missing_keys if "lora_" in k and f".{adapter_name}." in k]
    if missing or result.unexpected_keys:
        raise ValueError(
            f"The adapter does not fit this model: {len(missing)} LoRA weights missing (e.g. {missing[:2]}), "
            f"{len(result.unexpected_keys)} unexpected (e.g. {result.unexpected_keys[:2]})."
        )
