"""Serving many descriptions: a bounded adapter cache, batched generation, and one `generate` call for N tasks.

`AdapterCache` keeps generated LoRAs keyed by (T2L model, description) in LRU order, so a repeated description costs
a dictionary lookup. `T2LServer` answers N prompts that each carry their own description: it generates the missing
adapters in one batched forward of the hypernetwork, attaches them to one `PeftModel` as named adapters, and runs a
single `generate` in which every row uses its own adapter (PEFT's `adapter_names`).
"""

from __future__ import annotations

import hashlib
import itertools
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import torch
from peft import PeftModel
from transformers import PreTrainedModel

from .encoders import check_descriptions
from .generated_lora import GeneratedLoRA
from .generation import generate_chat
from .hosting import BASE_ADAPTER, AdapterHost
from .model import T2LModel


def adapter_name(description: str) -> str:
    """A stable, PEFT-safe adapter name for a description (no dots: PEFT uses names as module keys)."""
    return "t2l_" + hashlib.sha1(description.encode()).hexdigest()[:16]


@dataclass
class CacheStats:
    """Counts since the cache was created."""

    hits: int = 0
    misses: int = 0
    evictions: int = 0


class AdapterCache:
    """An LRU cache of generated LoRAs keyed by (T2L model, description).

    Args:
        max_adapters: most adapters kept; the least recently used one is dropped first.
        max_bytes: optional bound on the tensors kept, in bytes.

    Example:
        ```python
        >>> cache = AdapterCache(max_adapters=128)
        >>> loras = cache.get_or_generate(t2l, ["summarise news", "translate to French", "summarise news"])
        >>> cache.stats.misses  # two distinct descriptions, generated in one batched forward
        2
        ```
    """

    def __init__(self, *, max_adapters: int = 64, max_bytes: int | None = None):
        if max_adapters < 1:
            raise ValueError(f"AdapterCache max_adapters={max_adapters} is invalid: keep at least 1 adapter.")
        self.max_adapters, self.max_bytes = max_adapters, max_bytes
        self.stats = CacheStats()
        self._entries: OrderedDict[tuple, GeneratedLoRA] = OrderedDict()
        self._bytes = 0
        # a token per live model (not id(), which a new model can reuse once the old one is collected)
        self._tokens: weakref.WeakKeyDictionary[T2LModel, int] = weakref.WeakKeyDictionary()
        self._next_token = itertools.count()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get_or_generate(
        self, model: T2LModel, descriptions: str | list[str], *, task_embeddings: torch.Tensor | None = None
    ) -> list[GeneratedLoRA]:
        """One LoRA per description (in order); the ones not cached come from one batched hypernetwork forward.

        Args:
            model: the T2L model; its identity and weight versions are part of the key.
            descriptions: one or more descriptions (duplicates are generated once).
            task_embeddings: optional precomputed `[len(descriptions), E]` embeddings, to skip the text encoder.
        """
        texts = check_descriptions(descriptions)
        key = self._model_key(model)
        missing = [i for i, d in enumerate(texts) if (key, d) not in self._entries]
        unique = list(dict.fromkeys(texts[i] for i in missing))
        self.stats.hits += len(texts) - len(unique)  # a repeat inside one call is a hit too
        self.stats.misses += len(unique)
        if unique:
            emb = None
            if task_embeddings is not None:
                first = {texts[i]: i for i in reversed(missing)}
                emb = task_embeddings[[first[d] for d in unique]]
            for lora in model.generate_lora(unique, task_embeddings=emb):
                # own copies, so a cached adapter does not keep the whole batch's output alive
                lora.state_dict = {k: v.clone() for k, v in lora.state_dict.items()}
                self._insert((key, lora.description), lora)
        out = []
        for d in texts:
            self._entries.move_to_end((key, d))
            out.append(self._entries[(key, d)])
        self._evict(protect=len(set(texts)))
        return out

    def _model_key(self, model: T2LModel) -> tuple[int, int]:
        if model not in self._tokens:
            self._tokens[model] = next(self._next_token)
        # in-place updates (optimizer steps, load_state_dict) bump parameter versions: a trained model gets a new key
        return self._tokens[model], sum(p._version for p in model.parameters())

    def _insert(self, key: tuple, lora: GeneratedLoRA) -> None:
        self._entries[key] = lora
        self._bytes += lora.nbytes

    def _evict(self, *, protect: int) -> None:
        # never evict the `protect` most recent entries: they are the ones just returned
        def over() -> bool:
            return len(self._entries) > self.max_adapters or (
                self.max_bytes is not None and self._bytes > self.max_bytes
            )

        while over() and len(self._entries) > protect:
            _, lora = self._entries.popitem(last=False)
            self._bytes -= lora.nbytes
            self.stats.evictions += 1

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0


@dataclass
class ServedBatch:
    """What `T2LServer.generate` did for one batch.

    Args:
        texts: the decoded completions, one per prompt.
        adapter_names: the adapter each row used.
        generated: how many adapters were generated (cache misses) for this batch.
    """

    texts: list[str]
    adapter_names: list[str]
    generated: int


class T2LServer:
    """Answer N prompts, each under the LoRA of its own description, with one `generate` call.

    Args:
        base_model: the causal LM (or a `PeftModel` around it) the T2L model writes LoRAs for.
        t2l_model: the hypernetwork.
        tokenizer: the base model's tokenizer (left-padded for batched generation without changing it).
        cache: an `AdapterCache` (a new one by default).
        max_attached: most adapters kept attached to the model; the least recently used are deleted.

    Example:
        ```python
        >>> server = T2LServer(base, t2l, tokenizer)
        >>> out = server.generate(
        ...     ["What is 12 * 7?", "Bonjour, comment ça va ?"],
        ...     ["solve arithmetic problems", "translate French to English"],
        ...     max_new_tokens=32,
        ... )
        >>> out.texts
        ```
    """

    def __init__(
        self,
        base_model: PreTrainedModel | PeftModel,
        t2l_model: T2LModel,
        tokenizer,
        *,
        cache: AdapterCache | None = None,
        max_attached: int = 32,
    ):
        self.t2l, self.tokenizer = t2l_model, tokenizer
        self.cache = cache or AdapterCache(max_adapters=max(64, max_attached))
        self.max_attached = max_attached
        self.host = AdapterHost(base_model, max_adapters=max_attached)

    @property
    def model(self) -> PreTrainedModel | PeftModel:
        """The served model: the base model, a `PeftModel` around it once an adapter is attached."""
        return self.host.model

    def attach(self, descriptions: list[str], *, task_embeddings: torch.Tensor | None = None) -> list[str]:
        """Make sure every description's adapter is attached; returns the adapter name of each (in order)."""
        loras = self.cache.get_or_generate(self.t2l, descriptions, task_embeddings=task_embeddings)
        names = [adapter_name(lora.description) for lora in loras]
        # a name holding another object was regenerated after the T2L model's weights changed: the host swaps it in
        for name, lora in zip(names, loras):
            self.host.attach(name, lora, protect=names)
        return names

    @torch.no_grad()
    def generate(
        self, prompts: list[str], descriptions: list[str | None], *, chat: bool = True, **generate_kwargs
    ) -> ServedBatch:
        """One `generate` call in which row i runs under the LoRA written for `descriptions[i]`.

        Args:
            prompts: the user messages (or raw prompts with `chat=False`).
            descriptions: one task description per prompt; `None` runs that row on the base model.
            chat: format prompts with the tokenizer's chat template.
            **generate_kwargs: passed to `generate` (e.g. `max_new_tokens=64, do_sample=False`).
        """
        if len(prompts) != len(descriptions):
            raise ValueError(
                f"got {len(prompts)} prompts and {len(descriptions)} descriptions; pass one description per prompt (None for the base model)."
            )
        misses_before = self.cache.stats.misses
        wanted = [d for d in descriptions if d is not None]
        named = iter(self.attach(wanted)) if wanted else iter(())
        rows = [next(named) if d is not None else None for d in descriptions]
        self.model.eval()  # per-row adapters need eval mode (PEFT refuses them in training)
        texts = generate_chat(
            self.model,
            self.tokenizer,
            prompts,
            adapter_names=self.host.adapter_names(rows),
            chat=chat,
            **generate_kwargs,
        )
        names = [BASE_ADAPTER if name is None else name for name in rows]
        return ServedBatch(texts=texts, adapter_names=names, generated=self.cache.stats.misses - misses_before)


__all__ = ["AdapterCache", "BASE_ADAPTER", "CacheStats", "ServedBatch", "T2LServer", "adapter_name"]
