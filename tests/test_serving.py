"""Serving many descriptions on tiny models: the adapter cache, per-row adapters in one generate, vLLM's layout."""

import json
import re

import pytest
import torch
from conftest import make_tiny_llama, make_tiny_t2l
from safetensors import safe_open
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from peft_t2l.serving import BASE_ADAPTER, AdapterCache, T2LServer, adapter_name

WORDS = [
    "[PAD]",
    "[UNK]",
    "add",
    "two",
    "numbers",
    "say",
    "hello",
    "in",
    "french",
    "count",
    "words",
    "what",
    "is",
    "one",
]


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {w: i for i, w in enumerate(WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]")


def fresh_keys(model):
    return model.generate_lora("add two numbers").state_dict.keys()


class CountingForward:
    """Wraps a T2L model's forward to record the batch size of every hypernetwork call."""

    def __init__(self, model):
        self.batches, self._forward = [], model.forward
        model.forward = self

    def __call__(self, task_embeddings):
        self.batches.append(task_embeddings.shape[0])
        return self._forward(task_embeddings)


@pytest.fixture
def t2l():
    return make_tiny_t2l(make_tiny_llama(), head="M")


def test_repeated_descriptions_cost_nothing(t2l):
    calls = CountingForward(t2l)
    cache = AdapterCache(max_adapters=8)
    first = cache.get_or_generate(t2l, ["add two numbers", "say hello in french", "add two numbers"])
    assert calls.batches == [2]  # two distinct descriptions, one batched forward
    again = cache.get_or_generate(t2l, ["say hello in french", "add two numbers"])
    assert calls.batches == [2] and (cache.stats.hits, cache.stats.misses) == (3, 2)
    assert again[1] is first[0] and again[0] is first[1]
    fresh = t2l.generate_lora("add two numbers")
    for key, tensor in fresh.state_dict.items():
        torch.testing.assert_close(first[0].state_dict[key], tensor)
        # an own copy: caching one adapter does not pin the whole batch's output
        stored = first[0].state_dict[key]
        assert stored.untyped_storage().nbytes() == stored.numel() * stored.element_size()


def test_cache_is_bounded_lru_and_keyed_by_model_weights(t2l):
    calls = CountingForward(t2l)
    cache = AdapterCache(max_adapters=2)
    cache.get_or_generate(t2l, ["add two numbers"])
    cache.get_or_generate(t2l, ["say hello in french"])
    cache.get_or_generate(t2l, ["add two numbers"])  # now most recent
    cache.get_or_generate(t2l, ["count words"])  # evicts "say hello in french"
    assert len(cache) == 2 and cache.stats.evictions == 1
    cache.get_or_generate(t2l, ["add two numbers"])
    assert calls.batches == [1, 1, 1]
    cache.get_or_generate(t2l, ["say hello in french"])
    assert calls.batches == [1, 1, 1, 1]
    with torch.no_grad():  # a training step changes the weights: old adapters must not be served
        t2l.heads["q_proj"].weight.add_(0.1)
    cache.get_or_generate(t2l, ["add two numbers"])
    assert calls.batches == [1, 1, 1, 1, 1]
    other = make_tiny_t2l(make_tiny_llama(), head="M", seed=9)  # a different model never gets t2l's adapters
    assert not torch.equal(
        cache.get_or_generate(other, ["add two numbers"])[0].state_dict[next(iter(fresh_keys(t2l)))],
        cache.get_or_generate(t2l, ["add two numbers"])[0].state_dict[next(iter(fresh_keys(t2l)))],
    )
    one = AdapterCache(max_adapters=1, max_bytes=1)
    assert len(one.get_or_generate(t2l, ["add two numbers", "count words"])) == 2  # never evicts what it returns


def test_n_prompts_with_their_own_adapters_in_one_generate(t2l):
    base, tokenizer = make_tiny_llama(), tiny_tokenizer()
    server = T2LServer(base, t2l, tokenizer, max_attached=4)
    assert server.generate(["what is one"], [None], chat=False, max_new_tokens=1).adapter_names == [BASE_ADAPTER]
    calls = CountingForward(t2l)
    prompts = ["what is one", "what is two", "count words hello", "what is one"]
    descriptions = ["add two numbers", "say hello in french", "add two numbers", None]
    out = server.generate(prompts, descriptions, chat=False, max_new_tokens=4, do_sample=False)
    assert calls.batches == [2] and out.generated == 2
    assert out.adapter_names == [
        adapter_name(descriptions[0]),
        adapter_name(descriptions[1]),
        adapter_name(descriptions[0]),
        BASE_ADAPTER,
    ]
    assert len(out.texts) == 4

    # each row equals running that prompt alone under its own adapter (or none)
    peft_model = server.model
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    with torch.no_grad():
        mixed = peft_model(**batch, adapter_names=out.adapter_names).logits
        for row, name in enumerate(out.adapter_names):
            single = batch["input_ids"][row : row + 1]
            if name == BASE_ADAPTER:
                with peft_model.disable_adapter():
                    alone = peft_model(input_ids=single).logits
            else:
                peft_model.set_adapter(name)
                alone = peft_model(input_ids=single).logits
            torch.testing.assert_close(mixed[row], alone[0], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(mixed[0], mixed[3], atol=1e-4)  # the adapter changes the output

    # after a training step the same description gets a new adapter, swapped in under the same name
    with torch.no_grad():
        t2l.heads["q_proj"].weight.mul_(3.0)
        before = mixed[0].clone()
        server.generate(prompts[:1], descriptions[:1], chat=False, max_new_tokens=1)
        after = peft_model(**batch, adapter_names=out.adapter_names).logits[0]
    assert not torch.allclose(before, after, atol=1e-5)
    calls.batches.clear()

    # repeats generate nothing; more descriptions than max_attached detach the least recent ones
    again = server.generate(prompts[:2], descriptions[:2], chat=False, max_new_tokens=2)
    assert again.generated == 1 and calls.batches == [1]  # only the description not regenerated above
    many = ["count words", "say hello", "add numbers", "what is hello", "one two"]
    server.generate(many, many, chat=False, max_new_tokens=1)
    # a batch keeps every adapter it uses attached, even past max_attached; older ones are deleted from the model
    assert set(server.model.peft_config) == {adapter_name(d) for d in many}


# vLLM (vllm/lora: parse_fine_tuned_lora_name, PEFTHelper, LoRAModel.from_local_checkpoint) reads
# adapter_model.safetensors with keys base_model.model.<module>.lora_{A,B}.weight and adapter_config.json's
# r, lora_alpha, target_modules (required), bias == "none", no modules_to_save, no DoRA.
VLLM_KEY = re.compile(r"^base_model\.model\.(?P<module>[\w.]+)\.lora_(?P<ab>[AB])\.weight$")


def test_exported_adapter_matches_what_vllm_loads(t2l, tmp_path):
    lora = t2l.generate_lora("add two numbers")
    lora.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA"
    assert isinstance(config["r"], int) and config["r"] == t2l.config.lora_rank
    assert config["lora_alpha"] == t2l.config.lora_alpha and config["bias"] == "none"
    assert not config.get("modules_to_save") and not config.get("use_dora")
    targets = set(config["target_modules"])
    assert targets == set(t2l.config.target_modules)
    with safe_open(str(tmp_path / "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
        assert len(keys) == 2 * len(targets) * t2l.config.num_layers
        for key in keys:
            match = VLLM_KEY.match(key)
            assert match, key
            module = match["module"]
            assert module.rsplit(".", 1)[-1] in targets and ".default." not in key
            short = module.rsplit(".", 1)[-1]
            shape = tuple(f.get_tensor(key).shape)
            r, i, o = t2l.config.lora_rank, t2l.config.in_features[short], t2l.config.out_features[short]
            assert shape == ((r, i) if match["ab"] == "A" else (o, r))
