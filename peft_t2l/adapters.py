"""Kept for compatibility: the old home of generated adapters, now split by what each part is about.

- `peft_t2l.generated_lora`: `GeneratedLoRA` (save, push, `to_peft_model`, `load_into`), `check_finite`,
  `check_base_model`.
- `peft_t2l.peft_format`: PEFT's LoRA format (`lora_config`, `lora_state_dict`, `read_lora_folder`, key names).
- `peft_t2l.base_shapes`: `config_from_base_model`, a `T2LConfig` read from a causal LM's module shapes.
- `peft_t2l.model`: the package's `T2LModel` (`generate_lora`, `embed_descriptions`) and their function forms.

Old imports such as `from peft_t2l.adapters import GeneratedLoRA, generate_lora, lora_config` keep working; new code
imports from the modules above.
"""

from .base_shapes import config_from_base_model
from .generated_lora import GeneratedLoRA, check_base_model, check_finite
from .model import GENERATE_CHUNK, T2LModel, embed_descriptions, generate_lora
from .peft_format import ADAPTER_CONFIG, ADAPTER_WEIGHTS, PEFT_PREFIX, lora_config, lora_state_dict, read_lora_folder

__all__ = [
    "ADAPTER_CONFIG",
    "ADAPTER_WEIGHTS",
    "GENERATE_CHUNK",
    "PEFT_PREFIX",
    "GeneratedLoRA",
    "T2LModel",
    "check_base_model",
    "check_finite",
    "config_from_base_model",
    "embed_descriptions",
    "generate_lora",
    "lora_config",
    "lora_state_dict",
    "read_lora_folder",
]
