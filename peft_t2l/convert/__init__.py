"""Interop with checkpoints from other implementations of Text-to-LoRA."""

from ..encoders import ClsTokenEncoder, add_full_stop
from .sakana import (
    ReferenceArgs,
    ReferenceCheckpoint,
    convert_sakana_checkpoint,
    read_reference_checkpoint,
    reference_to_t2l_state_dict,
    t2l_config_from_reference,
)

__all__ = [
    "ClsTokenEncoder",
    "ReferenceArgs",
    "ReferenceCheckpoint",
    "add_full_stop",
    "convert_sakana_checkpoint",
    "read_reference_checkpoint",
    "reference_to_t2l_state_dict",
    "t2l_config_from_reference",
]
