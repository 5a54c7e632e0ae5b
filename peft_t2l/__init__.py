"""peft-t2l: Text-to-LoRA as a Hugging Face plugin. A sentence in, a PEFT LoRA out."""

from transformers import AutoConfig, AutoModel

from . import modeling_t2l
from .configuration_t2l import T2LConfig
from .defaults import DEFAULT_BASE_MODEL, DEFAULT_ENCODER, load_base_model
from .generated_lora import GeneratedLoRA
from .model import T2LModel, generate_lora
from .modeling_t2l import T2LOutput
from .peft_format import lora_config
from .peft_integration import T2LLoraConfig, add_task, get_peft_model, load_t2l_model, switch_task
from .serving import AdapterCache, T2LServer

AutoConfig.register("t2l", T2LConfig, exist_ok=True)
# AutoModel gives the package's class (text in, adapter out); the folders it saves still name the pure
# modeling_t2l.T2LModel in auto_map, for trust_remote_code without the package (see peft_t2l.model)
AutoModel.register(T2LConfig, T2LModel, exist_ok=True)
# save_pretrained then copies configuration_t2l.py (and, for a pure model, modeling_t2l.py) next to the weights
T2LConfig.register_for_auto_class()
modeling_t2l.T2LModel.register_for_auto_class("AutoModel")

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
