"""Both answers at once: the adapted and the base conversation go through one batched `generate`.

PEFT routes each batch row through its own adapter (`adapter_names=[slot, "__base__"]`), so the comparison costs
about one generation, and both columns stream token by token.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import torch
from transformers import PreTrainedTokenizerBase, StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from peft_t2l import GeneratedLoRA
from peft_t2l.generation import generate_chat
from peft_t2l.hosting import BASE_ADAPTER

from .runtime import LoadedModels


def flatten_history(history: list[dict] | None) -> list[dict[str, str]]:
    """Gradio chat messages as `{"role", "content": str}` dicts for a chat template.

    Gradio 6 gives each message's content as a list of blocks (`[{"type": "text", "text": ...}]`) or a string.
    """
    messages = []
    for message in history or []:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
        if message.get("role") in ("user", "assistant") and isinstance(content, str):
            messages.append({"role": message["role"], "content": content})
    return messages


def build_prompt(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]], *, max_tokens: int) -> str:
    """The base model's chat template applied to `messages`, dropping the oldest turns past `max_tokens`.

    Each message is tokenised once and the template applied a few times at most, so a long history costs linear
    time (re-templating the whole conversation once per dropped turn was quadratic).

    Example:
        ```python
        >>> build_prompt(tokenizer, [{"role": "user", "content": "Hi"}], max_tokens=1024)
        '<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n'
        ```
    """

    def render(turns: list[dict[str, str]]) -> str:
        return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)

    def length(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False).input_ids)

    if not messages:
        return render(messages)
    # the template's own tokens (system prompt, role markers) are measured once on the last message
    overhead = max(0, length(render(messages[-1:])) - length(messages[-1]["content"]))
    costs = [length(m["content"]) + _TURN_MARKERS for m in messages]
    start, total = 0, sum(costs) + overhead
    while start < len(messages) - 1 and total > max_tokens:
        total -= costs[start] + costs[start + 1]
        start += 2  # a user turn and its answer, so the conversation still starts with the user
    for _ in range(4):  # the estimate is close; correct it against the real prompt
        prompt = render(messages[start:])
        if start >= len(messages) - 1 or length(prompt) <= max_tokens:
            return prompt
        start += 2
    return render(messages[-1:])


_TURN_MARKERS = 5  # tokens a chat template adds around one message (role name, start/end markers, newlines)


class _RowStreamer(BaseStreamer):
    """Hands each step's new token ids (one per row) to the consumer thread."""

    def __init__(self):
        self.steps: queue.Queue[list[int] | None | BaseException] = queue.Queue()
        self._prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:  # generate() first passes the prompt itself
            self._prompt_seen = True
            return
        self.steps.put(value.reshape(-1).tolist())  # [B]

    def end(self) -> None:  # the worker thread signals the end itself, also on errors
        pass


class _StopWhenSet(StoppingCriteria):
    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


def stream_answers(
    models: LoadedModels,
    *,
    key: str,
    lora: GeneratedLoRA,
    adapted: list[dict[str, str]],
    base: list[dict[str, str]],
    max_new_tokens: int,
    max_prompt_tokens: int,
) -> Iterator[tuple[str, str]]:
    """Yield `(adapted answer so far, base answer so far)` after every generated token.

    Args:
        models: the shared models.
        key, lora: the session's active adapter and its cache key.
        adapted, base: the two conversations, each ending with the same user message.
        max_new_tokens: longest answer.
        max_prompt_tokens: older turns are dropped past this prompt length.

    Example:
        ```python
        >>> for with_adapter, without in stream_answers(models, key=e.key, lora=e.lora, adapted=msgs, base=msgs,
        ...                                             max_new_tokens=64, max_prompt_tokens=1024):
        ...     print(with_adapter)
        ```
    """
    tokenizer = models.tokenizer
    prompts = [build_prompt(tokenizer, m, max_tokens=max_prompt_tokens) for m in (adapted, base)]
    # the rendered (possibly shortened) conversations as token ids: generate_chat left-pads them into one batch
    prompt_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    streamer, stop = _RowStreamer(), threading.Event()

    def work() -> None:
        try:
            with models.lock:
                slot = models.pool.slot_for(key, lora)
                generate_chat(  # one call, rows in order: the streamer's row 0 is the adapted answer
                    models.peft_model,
                    tokenizer,
                    prompt_ids,
                    adapter_names=[slot, BASE_ADAPTER],
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([_StopWhenSet(stop)]),
                )
        except BaseException as err:  # re-raised in the consumer, which the user is waiting on
            streamer.steps.put(err)
        finally:
            streamer.steps.put(None)

    threading.Thread(target=work, daemon=True, name=f"t2l-generate-{key}").start()
    rows: list[list[int]] = [[], []]
    done = [False, False]
    try:
        while (step := streamer.steps.get()) is not None:
            if isinstance(step, BaseException):
                raise step
            for i, token in enumerate(step):
                done[i] = done[i] or token in (tokenizer.eos_token_id, tokenizer.pad_token_id)
                if not done[i]:
                    rows[i].append(token)
            yield (
                tokenizer.decode(rows[0], skip_special_tokens=True),
                tokenizer.decode(rows[1], skip_special_tokens=True),
            )
    finally:
        stop.set()  # the user left or an error occurred: free the shared model at the next token
