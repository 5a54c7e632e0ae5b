"""The models every session shares, loaded once per process, and the adapter slots of the shared PEFT model.

One `PeftModel` serves all users. Each generated adapter is loaded into one of a fixed number of named slots
(`slot0`, `slot1`, ...; `peft_t2l.hosting.AdapterHost` in slot mode): the first uses add a PEFT adapter, later ones
hot-swap new weights into the least recently used slot (`GeneratedLoRA.load_into`), so memory stays bounded however
many adapters users make. The adapters
themselves live in each user's session; a slot is only a cache, reloaded in ~ms when it was reused by someone else.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import torch
from peft import PeftModel
from transformers import PreTrainedTokenizerBase

import peft_t2l
from peft_t2l import GeneratedLoRA, T2LModel
from peft_t2l.hosting import AdapterHost

from .config import AppConfig

# loads the sentence encoder and builds the PeftModel at start-up, so no user waits for it
WARMUP_DESCRIPTION = "Answer questions helpfully and concisely."


class AdapterPool(AdapterHost):
    """Named adapter slots in one shared `PeftModel`, reused least-recently-used first: an `AdapterHost` in slot mode.

    Not thread-safe by itself: callers hold `LoadedModels.lock` from `slot_for` until their generation ends, so no
    slot changes under a running generation.

    Args:
        peft_model: the shared model; must already hold adapter `slot0`.
        size: number of slots.
    """

    def __init__(self, peft_model: PeftModel, *, size: int):
        super().__init__(peft_model, max_adapters=size, slots=True)
        self.size = size

    @property
    def peft_model(self) -> PeftModel:
        return self.model

    def slot_for(self, key: str, lora: GeneratedLoRA) -> str:
        """The adapter name under which `lora` (identified by `key`) is loaded, loading it if needed.

        A new adapter takes the least recently used slot: PEFT adds the adapter on a slot's first use and hot-swaps
        the weights in place after that (`GeneratedLoRA.load_into`).

        Example:
            ```python
            >>> with models.lock:
            ...     name = models.pool.slot_for(entry.key, entry.lora)
            ...     models.peft_model.generate(**inputs, adapter_names=[name])
            ```
        """
        return self.attach(key, lora)

    def loaded_keys(self) -> list[str]:
        """Keys of the adapters now in a slot, least recently used first."""
        return self.names()


@dataclass
class LoadedModels:
    """Everything loaded once per process and shared by all sessions.

    Args:
        t2l: the hypernetwork that writes adapters.
        peft_model: the base model wrapped once by PEFT; adapters live in its slots.
        tokenizer: the base model's tokenizer (its chat template formats the conversation).
        t2l_name: what was asked for (path, Hub id, or 'default'), for display.
        untrained: True when the hypernetwork is a random initialisation (no trained default exists yet).
        slots: how many adapters the shared model holds at once.
    """

    t2l: T2LModel
    peft_model: PeftModel
    tokenizer: PreTrainedTokenizerBase
    t2l_name: str
    untrained: bool = False
    slots: int = 8
    pool: AdapterPool = field(init=False, repr=False)
    # one user of the shared model at a time: PEFT selects per-row adapters through hooks on shared modules, so two
    # concurrent generate calls would see each other's adapters; the lock also keeps slots still during a generation
    lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    # the text encoder's embedding cache is not thread-safe
    t2l_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self):
        self.pool = AdapterPool(self.peft_model, size=self.slots)

    @property
    def base_model_name(self) -> str:
        return self.peft_model.get_base_model().name_or_path

    @property
    def device(self) -> torch.device:
        return self.peft_model.get_base_model().device

    @classmethod
    def from_models(
        cls, t2l: T2LModel, base_model, tokenizer, *, t2l_name: str, untrained: bool = False, slots: int = 8
    ) -> LoadedModels:
        """Wrap `base_model` with PEFT (through a first generated adapter) and set up the slots.

        Example:
            ```python
            >>> models = LoadedModels.from_models(t2l, base_model, tokenizer, t2l_name="my-t2l")
            ```
        """
        warmup = t2l.generate_lora(WARMUP_DESCRIPTION)
        peft_model = warmup.to_peft_model(base_model, adapter_name="slot0")
        if tokenizer.pad_token is None:  # the adapted and base prompts are padded into one batch
            tokenizer.pad_token = tokenizer.eos_token
        return cls(t2l, peft_model, tokenizer, t2l_name=t2l_name, untrained=untrained, slots=slots)


def load_models(config: AppConfig) -> LoadedModels:
    """Load the base model and the T2L model named by `config`, falling back to an untrained T2L for 'default'.

    Example:
        ```python
        >>> models = load_models(AppConfig.from_env())
        ```
    """
    device = _device(config.device)
    dtype = _dtype(config.dtype, device)
    base_model, tokenizer = peft_t2l.load_base_model(config.base_model, dtype=dtype, device=device)
    untrained = False
    try:
        t2l = peft_t2l.load_t2l_model(config.t2l_model)
    except FileNotFoundError:
        if config.t2l_model != "default":
            raise
        # no trained default ships yet: the demo still shows the whole mechanism, with a banner saying so
        t2l = T2LModel.from_base_model(base_model)
        untrained = True
    t2l = t2l.to(device).eval()
    return LoadedModels.from_models(
        t2l, base_model, tokenizer, t2l_name=config.t2l_model, untrained=untrained, slots=config.loaded_adapters
    )


def _device(name: str) -> str:
    if name != "auto":
        return name
    if torch.cuda.is_available():
        return "cuda"
    return "mps" if torch.backends.mps.is_available() else "cpu"


def _dtype(name: str, device: str) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    return getattr(torch, name)
