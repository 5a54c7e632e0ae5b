"""The text encoder exactly as the reference implementation embeds descriptions (encoder_type "cls_token").

The reference reads a description with a transformers encoder (gte-large-en-v1.5 for the released checkpoints):
append "." if the description ends with a letter, take the hidden state of the first ([CLS]) token of the last layer,
L2-normalise it and scale it by sqrt(hidden size). `SentenceTransformerEncoder` on the same model gives the same vector
only if the model's sentence-transformers pooling is CLS and the description already ends with punctuation; this
class does not depend on either.
"""

from __future__ import annotations

import math

import torch

from ..defaults import resolve


def add_full_stop(description: str) -> str:
    """`"classify sentiment"` -> `"classify sentiment."`; text ending in punctuation or a digit is left alone."""
    text = description.strip()
    return text + "." if text[-1:].isalpha() else text


class ClsTokenEncoder:
    """[CLS]-token embeddings of a transformers encoder, normalised and scaled as the reference does.

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
        batch = self.tokenizer(
            texts, return_tensors="pt", padding=True, truncation=True, max_length=self.max_length
        ).to(self.model.device)
        cls = self.model(**batch).last_hidden_state[:, 0].float()  # [B, H]
        return torch.nn.functional.normalize(cls, dim=-1).cpu() * math.sqrt(self.embedding_size)
