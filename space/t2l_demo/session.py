"""Per-user state, kept by Gradio in `gr.State`: the adapters a user generated and which one is active."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

import gradio as gr

from peft_t2l import GeneratedLoRA


@dataclass
class AdapterEntry:
    """One generated adapter and what the page shows about it.

    Args:
        lora: the adapter (CPU or device tensors in PEFT format).
        seconds: how long the hypernetwork took to write it.
        key: unique id; also names the adapter in the shared model's slot cache.
    """

    lora: GeneratedLoRA
    seconds: float
    key: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def label(self) -> str:
        text = self.lora.description
        return f"{text[:48]}{'…' if len(text) > 48 else ''} [{self.key}]"


@dataclass
class Session:
    """A user's adapters, oldest first, and the active one."""

    adapters: OrderedDict[str, AdapterEntry] = field(default_factory=OrderedDict)
    active: str | None = None

    def add(self, entry: AdapterEntry, *, limit: int) -> None:
        """Keep `entry` and make it active; drop the oldest adapters beyond `limit`."""
        self.adapters[entry.key] = entry
        self.active = entry.key
        while len(self.adapters) > limit:
            self.adapters.popitem(last=False)

    def select(self, key: str) -> AdapterEntry:
        if key not in self.adapters:
            raise gr.Error(f"Adapter {key!r} is not in this session (it may have been dropped); generate it again.")
        self.active = key
        return self.adapters[key]

    def active_entry(self) -> AdapterEntry:
        if self.active is None or self.active not in self.adapters:
            raise gr.Error("Generate an adapter first: describe a task on the left and press 'Generate adapter'.")
        return self.adapters[self.active]

    def choices(self) -> list[tuple[str, str]]:
        """(label, key) pairs for the adapter dropdown, newest first."""
        return [(e.label, e.key) for e in reversed(self.adapters.values())]
