"""Shared fixtures: tiny random models built in code, offline everywhere."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before anything imports huggingface_hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hashlib  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

import peft_t2l  # noqa: E402, F401  (registers the auto classes)
from peft_t2l import T2LModel  # noqa: E402

TINY_LLAMA = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=128,
    max_position_embeddings=64,
)


class HashEncoder:
    """A deterministic stand-in for a sentence encoder: words hashed into fixed random vectors."""

    def __init__(self, embedding_size: int = 16):
        self.embedding_size = embedding_size

    def encode(self, descriptions: list[str]) -> torch.Tensor:
        rows = []
        for text in descriptions:
            vec = torch.zeros(self.embedding_size)
            for word in text.lower().split():
                seed = int(hashlib.sha256(word.encode()).hexdigest()[:8], 16)
                vec += torch.randn(self.embedding_size, generator=torch.Generator().manual_seed(seed))
            rows.append(torch.nn.functional.normalize(vec, dim=0) * self.embedding_size**0.5)
        return torch.stack(rows)


def make_tiny_llama(seed: int = 0, **overrides) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(**{**TINY_LLAMA, **overrides})).eval()


def make_tiny_t2l(base, *, head: str = "M", seed: int = 1, **kwargs) -> T2LModel:
    """An untrained T2L for `base`, with non-zero head weights so that different descriptions give different LoRAs."""
    torch.manual_seed(seed)
    kwargs = {
        "latent_size": 32,
        "head_in_size": 48,
        "task_emb_size": 16,
        "encoder_type": "sentence_transformers",
        **kwargs,
    }
    model = T2LModel.from_base_model(base, head=head, **kwargs)
    with torch.no_grad():
        for h in model.heads.values():
            h.weight.normal_(0, 0.05)
    model.set_text_encoder(HashEncoder(model.config.task_emb_size))
    return model.eval()


@pytest.fixture
def tiny_llama():
    return make_tiny_llama()


@pytest.fixture(params=["L", "M", "S"])
def head(request):
    return request.param
