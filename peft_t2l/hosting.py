"""One base model hosting many named adapters: generated LoRAs and PEFT folders on one `PeftModel`.

`AdapterHost` wraps the base model in a `PeftModel` when the first adapter arrives and never rebuilds it. A
generated LoRA attached under a name that already holds one of the same shapes is hot-swapped in place
(`GeneratedLoRA.load_into`: no new modules, so a compiled model or a running server keeps working). Optionally the
number of adapters is bounded, least recently used first out, in one of two ways:

- named (`max_adapters=N`): adapters keep the names they were attached under; past N the least recently used ones
  are deleted from the model (`T2LServer`, whose names say which description a row used).
- slots (`max_adapters=N, slots=True`): the model holds at most N adapters named `slot0`...; a new adapter is
  hot-swapped into the least recently used slot, so memory stays flat however many adapters come (the Space).

Names in use by the current batch can be protected from both. Rows of a batch without adapter use `BASE_ADAPTER`.
Not thread-safe: callers that share a host across threads hold a lock from `attach` to the end of `generate`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from peft import PeftModel

from .generated_lora import GeneratedLoRA
from .peft_format import with_adapter_name

BASE_ADAPTER = "__base__"  # PEFT's name for "no adapter" in a per-row batch (`adapter_names`)

AdapterSource = GeneratedLoRA | str | Path  # a generated LoRA, or a PEFT LoRA folder


@dataclass(frozen=True)
class _Held:
    """What one PEFT adapter of the model holds: the name it was attached under and where it came from."""

    name: str
    source: AdapterSource


class AdapterHost:
    """A base model with named adapters attached: add, hot-swap, bound, and pick per batch row.

    Args:
        model: the base causal LM, or a `PeftModel` around it (its existing adapters are left alone, except slots
            already named `slot0`... in slot mode, which are reused).
        max_adapters: most adapters kept (`None`: no bound); the least recently attached or used go first.
        slots: reuse a fixed set of adapter names (`slot0`... `slot{max_adapters - 1}`) by hot-swapping, instead of
            deleting old adapters and adding new ones; `attach` then returns the slot that holds the adapter.

    Example:
        ```python
        >>> host = AdapterHost(base_model, max_adapters=32)
        >>> host.attach("math", t2l.generate_lora("solve math word problems"))
        'math'
        >>> host.attach("multitask", "runs/multitask-lora")  # a PEFT folder
        'multitask'
        >>> generate_chat(host.model, tokenizer, ["2+2?", "Hi"], adapter_names=host.adapter_names(["math", None]))
        ```
    """

    def __init__(self, model: torch.nn.Module, *, max_adapters: int | None = None, slots: bool = False):
        if max_adapters is not None and max_adapters < 1:
            raise ValueError(f"AdapterHost max_adapters={max_adapters} is invalid; keep at least 1 (or None).")
        if slots and max_adapters is None:
            raise ValueError("AdapterHost(slots=True) needs max_adapters=N, the number of slots.")
        self.model = model
        self.max_adapters, self.slots = max_adapters, slots
        # PEFT adapter name -> what it holds (None: free, or a load that failed half-way), least recently used first
        self._held: OrderedDict[str, _Held | None] = OrderedDict()
        if slots:
            self._held.update((f"slot{i}", None) for i in range(max_adapters))

    def __contains__(self, name: str) -> bool:
        return self._adapter_of(name) is not None

    def __len__(self) -> int:
        return len(self.names())

    def names(self) -> list[str]:
        """The names of the adapters attached now, least recently used first.

        Example:
            ```python
            >>> host.names()
            ['multitask', 'math']
            ```
        """
        return [held.name for held in self._held.values() if held is not None]

    def attach(self, name: str, source: AdapterSource, *, protect: Collection[str] = ()) -> str:
        """Attach `source` under `name` (or refresh it); returns the PEFT adapter name that holds it.

        A name that already holds this very object (or folder path) is only marked as recently used. A name that
        holds something else is reloaded: a generated LoRA of the same shapes is hot-swapped in place, anything else
        replaces the old adapter. Past `max_adapters`, the least recently used names not in `protect` (and not
        `name`) are deleted (named mode) or their slot is reused (slot mode).

        Args:
            name: the adapter's name; in slot mode any key of yours (the slot name is returned).
            source: a `GeneratedLoRA`, or a PEFT LoRA folder (with `adapter_config.json`).
            protect: names that must stay attached, e.g. the other adapters of the batch about to run.

        Example:
            ```python
            >>> names = [adapter_name(lora.description) for lora in loras]
            >>> rows = [host.attach(n, lora, protect=names) for n, lora in zip(names, loras)]
            ```
        """
        if name == BASE_ADAPTER:
            raise ValueError(
                f"{BASE_ADAPTER!r} names the rows without adapter; attach the adapter under another name."
            )
        if not self.slots and (not isinstance(name, str) or not name or "." in name):
            # named mode uses `name` as the PEFT adapter name, which becomes a torch module key
            raise ValueError(
                f"adapter name {name!r} cannot name a PEFT adapter (torch module keys are non-empty and have no '.'); "
                f"use e.g. {str(name).replace('.', '_') or 'task'!r}."
            )
        if not isinstance(source, GeneratedLoRA) and not (Path(source) / "adapter_config.json").is_file():
            raise ValueError(
                f"{source} has no adapter_config.json; pass a PEFT LoRA folder or a GeneratedLoRA to attach {name!r}."
            )
        adapter = self._adapter_of(name)
        held = self._held.get(adapter) if adapter is not None else None
        if held is None or not _same_source(held.source, source):  # new, or regenerated/replaced under that name
            if adapter is None:
                adapter = self._free_slot(set(protect) | {name}) if self.slots else name
            self._held[adapter] = None  # until the load succeeds: a failed load may leave it half-written
            self._load(adapter, source)
            self._held[adapter] = _Held(name, source)
        self._held.move_to_end(adapter)
        if not self.slots:
            self._delete_least_recent(keep=set(protect) | {name})
        return adapter

    def adapter_names(self, names: Sequence[str | None]) -> list[str] | None:
        """Per-row PEFT adapter names for `generate(adapter_names=...)`: `None` rows run on the base model.

        Returns `None` when no adapter was ever attached (the model is not a `PeftModel` and takes no
        `adapter_names`); then every row must be `None`.

        Example:
            ```python
            >>> host.adapter_names(["math", None])
            ['math', '__base__']
            ```
        """
        missing = [n for n in names if n is not None and self._adapter_of(n) is None]
        if missing:
            raise ValueError(f"adapters {missing} are not attached; attach them before naming them in a batch.")
        if not isinstance(self.model, PeftModel):
            return None
        return [BASE_ADAPTER if n is None else self._adapter_of(n) for n in names]

    @contextmanager
    def active(self, name: str | None) -> Iterator[torch.nn.Module]:
        """The model with only adapter `name` on, or with every adapter off when it is `None`.

        Example:
            ```python
            >>> with host.active("multitask") as model:
            ...     model.generate(**inputs)
            ```
        """
        if name is None:
            if isinstance(self.model, PeftModel):
                with self.model.disable_adapter():
                    yield self.model
            else:
                yield self.model
            return
        adapter = self._adapter_of(name)
        if adapter is None:
            raise ValueError(f"adapter {name!r} is not attached; attach it before making it active.")
        self._held.move_to_end(adapter)
        self.model.set_adapter(adapter)
        yield self.model

    # ---- internals ---------------------------------------------------------------------------------------------

    def _adapter_of(self, name: str) -> str | None:
        if not self.slots:
            return name if self._held.get(name) is not None else None
        return next((a for a, held in self._held.items() if held is not None and held.name == name), None)

    def _free_slot(self, protect: set[str]) -> str:
        for adapter, held in self._held.items():  # least recently used first
            if held is None or held.name not in protect:
                return adapter
        raise ValueError(
            f"all {self.max_adapters} adapter slots hold adapters this batch uses; use at most {self.max_adapters} "
            "distinct adapters per batch, or raise max_adapters."
        )

    def _load(self, adapter: str, source: AdapterSource) -> None:
        model = self.model
        if isinstance(model, PeftModel) and adapter in model.peft_config:
            if not (isinstance(source, GeneratedLoRA) and self._fits(adapter, source)):
                # other shapes or a folder: PEFT cannot swap it in place. Deleting a PeftModel's last adapter leaves
                # it without an active config, so then the LoRA layers come off and the same base is wrapped anew
                if len(model.peft_config) == 1:
                    model = self.model = model.unload()
                else:
                    model.delete_adapter(adapter)
        if isinstance(source, GeneratedLoRA):
            if isinstance(model, PeftModel):
                source.load_into(model, adapter_name=adapter)  # adds it, or hot-swaps the old tensors in place
            else:
                self.model = source.to_peft_model(model, adapter_name=adapter)
        elif isinstance(model, PeftModel):
            model.load_adapter(str(source), adapter_name=adapter)
        else:
            self.model = PeftModel.from_pretrained(model, str(source), adapter_name=adapter)
        self.model.eval()

    def _fits(self, adapter: str, lora: GeneratedLoRA) -> bool:
        """Whether `adapter`'s LoRA weights have exactly the keys and shapes of `lora` (so a swap replaces all)."""
        marks = (f".lora_A.{adapter}.", f".lora_B.{adapter}.")
        have = {n: tuple(p.shape) for n, p in self.model.named_parameters() if any(m in n for m in marks)}
        want = {with_adapter_name(k, adapter): tuple(v.shape) for k, v in lora.state_dict.items()}
        return have == want

    def _delete_least_recent(self, *, keep: set[str]) -> None:
        if self.max_adapters is None:
            return
        for adapter in list(self._held):
            if len(self._held) <= self.max_adapters:
                break
            if adapter not in keep:
                if isinstance(self.model, PeftModel) and adapter in self.model.peft_config:
                    self.model.delete_adapter(adapter)
                del self._held[adapter]


def _same_source(held: AdapterSource, source: AdapterSource) -> bool:
    # a generated LoRA by identity (regenerated after a training step is a new object), a folder by its path
    if isinstance(held, GeneratedLoRA) or isinstance(source, GeneratedLoRA):
        return held is source
    return Path(held).resolve() == Path(source).resolve()


__all__ = ["BASE_ADAPTER", "AdapterHost", "AdapterSource"]
