"""Training for T2L: SFT through the frozen base model, reconstruction of a LoRA library, LoRA baselines."""

from .config import LoraTrainConfig, ReconConfig, SFTConfig, load_config
from .engine import LossOutput, TrainResult, train_loop
from .row_lora import RowLoRA
from .sft import T2LTrainResult, train_sft

__all__ = [
    "LoraTrainConfig",
    "LossOutput",
    "ReconConfig",
    "RowLoRA",
    "SFTConfig",
    "T2LTrainResult",
    "TrainResult",
    "load_config",
    "train_loop",
    "train_sft",
]
