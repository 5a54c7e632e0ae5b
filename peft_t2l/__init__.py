"""peft-t2l: Text-to-LoRA as a Hugging Face plugin. A sentence in, a PEFT LoRA out."""

from transformers import AutoConfig, AutoModel

from .configuration_t2l import T2LConfig
from .modeling_t2l import T2LModel, T2LOutput

AutoConfig.register("t2l", T2LConfig, exist_ok=True)
AutoModel.register(T2LConfig, T2LModel, exist_ok=True)
# save_pretrained then copies configuration_t2l.py / modeling_t2l.py next to the weights, for trust_remote_code
T2LConfig.register_for_auto_class()
T2LModel.register_for_auto_class("AutoModel")

from .adapters import GeneratedLoRA, generate_lora, lora_config  # noqa: E402
from .defaults import DEFAULT_BASE_MODEL, DEFAULT_ENCODER, load_base_model  # noqa: E402
from .peft_integration import T2LLoraConfig, add_task, get_peft_model, load_t2l_model, switch_task  # noqa: E402
from .serving import AdapterCache, T2LServer  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "AdapterCache",
    "DEFAULT_BASE_MODEL",
    "DEFAULT_ENCODER",
    "GeneratedLoRA",
    "T2LConfig",
    "T2LLoraConfig",
    "T2LModel",
    "T2LOutput",
    "T2LServer",
    "add_task",
    "generate_lora",
    "get_peft_model",
    "load_base_model",
    "load_t2l_model",
    "lora_config",
    "switch_task",
]
