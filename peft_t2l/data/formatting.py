"""Instances to token ids: the base model's chat template, loss on the response only, explicit truncation.

The user turn is the task input alone. The description is not in the prompt: the generated adapter carries the task.
Every cut is counted in `TruncationStats`, so a run can report exactly what its length limits removed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from .tasks import Task

IGNORE_INDEX = -100  # label of tokens that carry no loss (prompt, padding)


@dataclass
class EncodedExample:
    """One tokenised example: `labels` is `IGNORE_INDEX` on the prompt."""

    input_ids: list[int]
    labels: list[int]
    prompt_tokens_cut: int = 0
    response_tokens_cut: int = 0


@dataclass
class TruncationStats:
    """What the length limits removed over a set of examples."""

    examples: int = 0
    prompts_truncated: int = 0
    responses_truncated: int = 0
    prompt_tokens_cut: int = 0
    response_tokens_cut: int = 0

    def add(self, example: EncodedExample) -> None:
        self.examples += 1
        self.prompts_truncated += example.prompt_tokens_cut > 0
        self.responses_truncated += example.response_tokens_cut > 0
        self.prompt_tokens_cut += example.prompt_tokens_cut
        self.response_tokens_cut += example.response_tokens_cut

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def message(self) -> str | None:
        """A one-line report, or `None` when nothing was cut."""
        if not (self.prompts_truncated or self.responses_truncated):
            return None
        return (
            f"length limits cut {self.prompts_truncated}/{self.examples} prompts ({self.prompt_tokens_cut} tokens, "
            f"kept their end) and {self.responses_truncated}/{self.examples} responses ({self.response_tokens_cut} "
            "tokens, kept their start); raise max_prompt_length / max_response_length to keep them whole."
        )


def encode_example(tokenizer, prompt: str, response: str, *, max_prompt_length: int, max_response_length: int):
    """Tokenise one (input, output) pair through the chat template, truncating explicitly.

    A long prompt keeps its last `max_prompt_length` tokens (the end of the input and the assistant header sit right
    before the answer); a long response keeps its first `max_response_length` tokens.

    Args:
        tokenizer: a tokenizer with a chat template.
        prompt: the user turn (the task input).
        response: the assistant turn (the target).
        max_prompt_length: longest prompt in tokens, template included.
        max_response_length: longest response in tokens, end-of-turn tokens included.

    Returns:
        An `EncodedExample` with how many tokens were cut.

    Example:
        ```python
        >>> ex = encode_example(tokenizer, "2+2=", "4", max_prompt_length=96, max_response_length=32)
        ```
    """
    user = [{"role": "user", "content": prompt}]
    prompt_ids = _ids(tokenizer.apply_chat_template(user, add_generation_prompt=True, tokenize=True))
    full_ids = _ids(tokenizer.apply_chat_template(user + [{"role": "assistant", "content": response}], tokenize=True))
    if full_ids[: len(prompt_ids)] != prompt_ids:
        raise ValueError(
            "the chat template does not render the prompt as a prefix of the conversation, so the response tokens "
            "cannot be located; use a base model whose template appends the assistant turn after the prompt."
        )
    response_ids = full_ids[len(prompt_ids) :]
    prompt_cut = max(0, len(prompt_ids) - max_prompt_length)
    response_cut = max(0, len(response_ids) - max_response_length)
    prompt_ids = prompt_ids[prompt_cut:]
    response_ids = response_ids[: len(response_ids) - response_cut]
    return EncodedExample(
        input_ids=prompt_ids + response_ids,
        labels=[IGNORE_INDEX] * len(prompt_ids) + response_ids,
        prompt_tokens_cut=prompt_cut,
        response_tokens_cut=response_cut,
    )


@dataclass
class TokenizedTasks:
    """Every instance of every task, tokenised once, with what truncation removed.

    Args:
        tasks: the tasks.
        examples: `examples[t][i]` is instance `i` of `tasks[t]`.
        truncation: totals over all examples.
    """

    tasks: list[Task]
    examples: list[list[EncodedExample]]
    truncation: TruncationStats = field(default_factory=TruncationStats)

    @classmethod
    def build(cls, tasks: list[Task], tokenizer, *, max_prompt_length: int, max_response_length: int):
        """Tokenise all instances of `tasks`.

        Example:
            ```python
            >>> data = TokenizedTasks.build(tasks, tokenizer, max_prompt_length=96, max_response_length=32)
            ```
        """
        stats = TruncationStats()
        examples = []
        for task in tasks:
            encoded = [
                encode_example(
                    tokenizer,
                    inst.input,
                    inst.output,
                    max_prompt_length=max_prompt_length,
                    max_response_length=max_response_length,
                )
                for inst in task.instances
            ]
            for ex in encoded:
                stats.add(ex)
            examples.append(encoded)
        return cls(tasks=list(tasks), examples=examples, truncation=stats)


def collate(examples: list[EncodedExample], *, pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad examples into `input_ids`, `attention_mask`, `labels`, each `[batch, longest]`.

    Example:
        ```python
        >>> batch = collate([ex1, ex2], pad_token_id=tokenizer.pad_token_id)
        ```
    """
    length = max(len(ex.input_ids) for ex in examples)
    input_ids = torch.full((len(examples), length), pad_token_id, dtype=torch.long)  # [B, T]
    labels = torch.full((len(examples), length), IGNORE_INDEX, dtype=torch.long)  # [B, T]
    attention_mask = torch.zeros((len(examples), length), dtype=torch.long)  # [B, T]
    for row, ex in enumerate(examples):
        n = len(ex.input_ids)
        input_ids[row, :n] = torch.tensor(ex.input_ids)
        labels[row, :n] = torch.tensor(ex.labels)
        attention_mask[row, :n] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def _ids(result) -> list[int]:
    # transformers 5 returns a BatchEncoding from apply_chat_template(tokenize=True); older versions a list
    ids = result["input_ids"] if hasattr(result, "keys") else result
    return list(ids)
