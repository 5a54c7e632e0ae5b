"""Tiny random models built in code (no download, < 1 s): for the tests and for working on the UI (`--tiny`).

The answers are gibberish, but everything else is real: a Llama causal LM with a ChatML chat template, an untrained
T2L hypernetwork for it, and a deterministic stand-in for the sentence encoder.
"""

from __future__ import annotations

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from peft_t2l import T2LModel
from peft_t2l.encoders import HashingEncoder

from .runtime import LoadedModels

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<unk>", "<|im_start|>", "<|im_end|>"]


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A character-level tokenizer (printable ASCII and newline) with a ChatML chat template; 98 tokens."""
    chars = ["\n"] + [chr(i) for i in range(32, 127)]
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + chars)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", eos_token="<|im_end|>", pad_token="<|im_end|>"
    )
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    tokenizer.chat_template = CHATML
    return tokenizer


def tiny_models(*, seed: int = 0, slots: int = 4) -> LoadedModels:
    """A 2-layer Llama (hidden 32), its tokenizer, and an untrained T2L whose heads write non-zero LoRAs.

    Example:
        ```python
        >>> demo = build_demo(tiny_models(), AppConfig(max_new_tokens=8))
        ```
    """
    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer()
    base = LlamaForCausalLM(
        LlamaConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=len(tokenizer),
            max_position_embeddings=4096,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    ).eval()
    base.name_or_path = "tiny-random-llama"
    t2l = T2LModel.from_base_model(base, latent_size=32, head_in_size=48, task_emb_size=16)
    with torch.no_grad():
        for head in t2l.heads.values():
            # a fresh T2L's LoRA lives in the head bias, the same for every description: move it into the weights
            head.weight.normal_(0, 0.3)
            head.bias.zero_()
    t2l.set_text_encoder(HashingEncoder(t2l.config.task_emb_size))
    return LoadedModels.from_models(
        t2l.eval(), base, tokenizer, t2l_name="tiny-random-t2l", untrained=True, slots=slots
    )
