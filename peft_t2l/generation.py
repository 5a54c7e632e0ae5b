"""Batched generation from prompts or conversations: chat template, left padding, `generate`, decoded new text.

One rule for padding everywhere: prompts are tokenised one by one and left-padded here, by hand, with the
tokenizer's pad token (its end-of-sequence token when it has none). The tokenizer's `padding_side` is neither read
nor changed, so the caller's tokenizer works as before for everything else (training collators, encoders).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

# a user turn (or raw text with chat=False), a whole conversation, or token ids of a prompt already rendered
Prompt = str | Sequence[Mapping[str, str]] | Sequence[int] | torch.Tensor


def pad_token_id(tokenizer) -> int:
    """The id prompts are padded with: the tokenizer's pad token, else its end-of-sequence token.

    Example:
        ```python
        >>> pad_token_id(tokenizer)
        2
        ```
    """
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ValueError(
            f"{type(tokenizer).__name__} has neither a pad nor an end-of-sequence token; set tokenizer.pad_token "
            "before generating a batch."
        )
    return pad


def encode_prompts(tokenizer, prompts: Sequence[Prompt], *, chat: bool = True) -> list[list[int]]:
    """Token ids of each prompt, unpadded.

    A string is one user turn put through the chat template (with the assistant header), or with `chat=False` raw
    text tokenised with the tokenizer's special tokens. A list of `{"role", "content"}` messages is a whole
    conversation put through the chat template. Token ids (a list of ints or a 1-D tensor) are a prompt already
    rendered and are used as they are.

    Args:
        tokenizer: the model's tokenizer (with a chat template unless `chat=False` and no conversations are given).
        prompts: one prompt per row.
        chat: format strings with the chat template.

    Example:
        ```python
        >>> encode_prompts(tokenizer, ["Hi", [{"role": "user", "content": "Hi"}]])  # two equal rows
        ```
    """
    if isinstance(prompts, str) or (isinstance(prompts, torch.Tensor) and prompts.dim() != 2):
        raise ValueError(f"prompts={prompts!r:.60} is a single prompt; pass a list of prompts, one per row.")
    rows = []
    for i, prompt in enumerate(prompts):
        if isinstance(prompt, torch.Tensor):
            rows.append(prompt.reshape(-1).tolist())
        elif isinstance(prompt, str):
            if chat:
                rows.append(_template(tokenizer, [{"role": "user", "content": prompt}]))
            else:
                rows.append(list(tokenizer(prompt, add_special_tokens=True)["input_ids"]))
        elif isinstance(prompt, Sequence) and prompt and all(isinstance(m, Mapping) for m in prompt):
            if not chat:
                raise ValueError(f"prompts[{i}] is a conversation, which needs chat=True (its chat template).")
            rows.append(_template(tokenizer, list(prompt)))
        elif isinstance(prompt, Sequence) and prompt and all(isinstance(t, int) for t in prompt):
            rows.append(list(prompt))
        else:
            raise ValueError(
                f"prompts[{i}]={prompt!r:.60} is not a prompt; pass a string, a list of {{'role', 'content'}} "
                "messages, or a non-empty list of token ids."
            )
    return rows


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id rows as one left-padded batch: `(input_ids, attention_mask)`, both `[B, T]`.

    Left padding keeps every row's last prompt token in the last column, where generation continues.

    Example:
        ```python
        >>> left_pad([[5, 6, 7], [8]], pad_id=0)[0].tolist()
        [[5, 6, 7], [0, 0, 8]]
        ```
    """
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)  # [B, T]
    mask = torch.zeros_like(input_ids)  # [B, T]
    for i, r in enumerate(rows):
        input_ids[i, width - len(r) :] = torch.tensor(list(r), dtype=torch.long)
        mask[i, width - len(r) :] = 1
    return input_ids, mask


@torch.no_grad()
def generate_chat(
    model: torch.nn.Module,
    tokenizer,
    prompts: Sequence[Prompt],
    *,
    adapter_names: Sequence[str] | None = None,
    chat: bool = True,
    batch_size: int | None = None,
    **generate_kwargs,
) -> list[str]:
    """The text each prompt's answer adds, from batched `generate` calls with left padding.

    Args:
        model: a causal LM or a `PeftModel` (in eval mode when `adapter_names` is given: PEFT requires it).
        tokenizer: its tokenizer; only read, never changed.
        prompts: user turns, conversations (lists of messages) or token ids; see `encode_prompts`.
        adapter_names: the PEFT adapter of each row (`hosting.BASE_ADAPTER` for none), passed to `generate`.
        chat: format string prompts with the chat template (`False`: raw text, with the tokenizer's special tokens).
        batch_size: rows per `generate` call, grouped longest first so that similar lengths share a call (the
            answers still come back in the order of `prompts`). `None`: one call with the rows in the given order,
            which is what a streamer passed in `generate_kwargs` sees.
        **generate_kwargs: passed to `generate` (e.g. `max_new_tokens=64, do_sample=False` or a
            `generation_config`); `pad_token_id` defaults to `pad_token_id(tokenizer)`.

    Returns:
        One decoded answer per prompt, special tokens skipped, whitespace kept as generated.

    Example:
        ```python
        >>> generate_chat(model, tokenizer, ["What is 12 * 7?", "Name a colour."], max_new_tokens=16, do_sample=False)
        [' 12 * 7 = 84.', ' Blue.']
        ```
    """
    rows = encode_prompts(tokenizer, prompts, chat=chat)
    if adapter_names is not None and len(adapter_names) != len(rows):
        raise ValueError(
            f"got {len(adapter_names)} adapter_names for {len(rows)} prompts; pass one adapter name per prompt "
            "(BASE_ADAPTER for a row without adapter)."
        )
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be at least 1, or None for one generate call.")
    if not rows:
        return []
    pad_id = pad_token_id(tokenizer)
    kwargs = dict(generate_kwargs)
    config = kwargs.get("generation_config")
    if kwargs.get("pad_token_id") is None and getattr(config, "pad_token_id", None) is None:
        kwargs["pad_token_id"] = pad_id
    if batch_size is None:
        batches = [list(range(len(rows)))]
    else:
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))  # stable: equal lengths keep their order
        batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    device = next(model.parameters()).device
    answers = [""] * len(rows)
    for batch in batches:
        input_ids, attention_mask = left_pad([rows[i] for i in batch], pad_id)  # [B, T]
        if adapter_names is not None:
            kwargs["adapter_names"] = [adapter_names[i] for i in batch]
        out = model.generate(
            input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), **kwargs
        )  # [B, T + new]
        for r, i in enumerate(batch):
            answers[i] = tokenizer.decode(out[r, input_ids.shape[1] :], skip_special_tokens=True)
    return answers


def _template(tokenizer, messages: list[Mapping[str, str]]) -> list[int]:
    # tokenize=True is what the evaluation always used: the rendered text tokenised without extra special tokens
    encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


__all__ = ["Prompt", "encode_prompts", "generate_chat", "left_pad", "pad_token_id"]
