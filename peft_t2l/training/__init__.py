"""Training for T2L: SFT through the frozen base model, reconstruction of a LoRA library, LoRA baselines, and
weight averages of trained models.

Example:
    ```python
    >>> from peft_t2l.training import SFTConfig, load_config, train_sft
    >>> result = train_sft(load_config(SFTConfig, "configs/sft_smollm2_sni.yaml", ["max_steps=100"]))
    ```
"""

from .average import average_models
from .config import LoraTrainConfig, ReconConfig, SFTConfig, load_config
from .engine import LossOutput, TrainResult, train_loop
from .lora import LoraTrainResult, train_lora
from .recon import LoraLibrary, train_recon
from .row_lora import RowLoRA
from .sft import T2LTrainResult, train_sft

__all__ = [
    "LoraLibrary",
    "LoraTrainConfig",
    "LoraTrainResult",
    "LossOutput",
    "ReconConfig",
    "RowLoRA",
    "SFTConfig",
    "T2LTrainResult",
    "TrainResult",
    "average_models",
    "load_config",
    "train_lora",
    "train_loop",
    "train_recon",
    "train_sft",
]
