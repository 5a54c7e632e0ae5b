"""One base model hosting many adapters (`peft_t2l.hosting`), and batched chat generation (`peft_t2l.generation`),
on a tiny random Llama with a character tokenizer."""

import dataclasses

import pytest
import torch
from conftest import make_tiny_llama, make_tiny_t2l
from peft import PeftModel
from test_training_helpers import char_tokenizer

from peft_t2l.generation import encode_prompts, generate_chat, left_pad
from peft_t2l.hosting import BASE_ADAPTER, AdapterHost

Q_PROJ_A = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"


@pytest.fixture(scope="module")
def tokenizer():
    return char_tokenizer()


@pytest.fixture
def base(tokenizer):
    return make_tiny_llama(vocab_size=len(tokenizer), max_position_embeddings=256)


@pytest.fixture(scope="module")
def loras(tokenizer):
    t2l = make_tiny_t2l(make_tiny_llama(vocab_size=len(tokenizer), max_position_embeddings=256))
    return t2l.generate_lora(["reverse words", "count letters", "say hello", "add numbers"])


def lora_a(host: AdapterHost, adapter: str) -> torch.nn.Parameter:
    return host.model.base_model.model.model.layers[0].self_attn.q_proj.lora_A[adapter].weight


# ---- the host --------------------------------------------------------------------------------------------------


def test_attach_wraps_once_and_hot_swaps_a_name_in_place(base, loras):
    host = AdapterHost(base)
    assert host.adapter_names([None]) is None  # no adapter yet: the plain model takes no adapter_names
    assert host.attach("t2l", loras[0]) == "t2l"
    peft_model, param = host.model, lora_a(host, "t2l")
    assert isinstance(peft_model, PeftModel) and torch.equal(param, loras[0].state_dict[Q_PROJ_A])
    count = len(list(peft_model.parameters()))
    host.attach("t2l", loras[1])  # same shapes: copied into the same parameters
    assert host.model is peft_model and lora_a(host, "t2l") is param and len(list(peft_model.parameters())) == count
    assert torch.equal(param, loras[1].state_dict[Q_PROJ_A])
    host.attach("t2l", loras[1])  # the object already there: nothing to do
    assert list(host.model.peft_config) == ["t2l"] and host.names() == ["t2l"]


def test_regenerated_adapter_under_the_same_name_is_reloaded(base, loras):
    """A new object under an old name (a T2L trained further) is swapped in, even if it looks the same."""
    host = AdapterHost(base)
    host.attach("a", loras[0])
    with torch.no_grad():
        lora_a(host, "a").zero_()  # stands in for stale weights
    copy = dataclasses.replace(loras[0])
    host.attach("a", copy)
    assert torch.equal(lora_a(host, "a"), loras[0].state_dict[Q_PROJ_A])


@pytest.mark.parametrize("name", ["own1.0", ""])
def test_a_name_peft_cannot_use_is_refused_before_anything_loads(base, loras, name):
    host = AdapterHost(base)
    with pytest.raises(ValueError, match="cannot name a PEFT adapter"):
        host.attach(name, loras[0])
    assert host.names() == [] and host.model is base  # nothing wrapped, nothing half-attached
    slots = AdapterHost(base, max_adapters=2, slots=True)  # slot mode picks its own PEFT names: any key will do
    assert slots.attach(name, loras[0]) in slots.model.peft_config


def test_named_bound_deletes_the_least_recent_and_never_a_protected_one(base, loras):
    host = AdapterHost(base, max_adapters=2)
    host.attach("a", loras[0])
    host.attach("b", loras[1])
    host.attach("a", loras[0])  # a is now the most recent
    host.attach("c", loras[2])
    assert set(host.model.peft_config) == {"a", "c"} and host.names() == ["a", "c"]
    with host.active("a"):  # using an adapter counts as recent too
        pass
    host.attach("d", loras[3], protect={"c", "d"})
    assert host.names() == ["c", "d"]  # a was more recent than c, but c is protected
    host.attach("a", loras[0], protect={"c", "d", "a"})  # a batch needing more than max_adapters keeps them all
    assert set(host.model.peft_config) == {"a", "c", "d"}
    with pytest.raises(ValueError, match="not attached"):
        host.adapter_names(["b"])


def test_slots_are_reused_in_place_least_recent_first(base, loras):
    host = AdapterHost(base, max_adapters=2, slots=True)
    assert [host.attach(key, lora) for key, lora in zip("xyz", loras)] == ["slot0", "slot1", "slot0"]
    slot0 = lora_a(host, "slot0")
    assert set(host.model.peft_config) == {"slot0", "slot1"} and host.names() == ["y", "z"]
    assert host.attach("x", loras[0]) == "slot1"  # x was swapped out: it comes back into the least recent slot
    assert lora_a(host, "slot0") is slot0 and torch.equal(lora_a(host, "slot1"), loras[0].state_dict[Q_PROJ_A])
    assert host.attach("z", loras[2]) == "slot0" and host.names() == ["x", "z"]  # already there: no load
    assert host.adapter_names(["z", None, "x"]) == ["slot0", BASE_ADAPTER, "slot1"]
    with pytest.raises(ValueError, match="all 2 adapter slots hold adapters this batch uses"):
        host.attach("w", loras[3], protect={"x", "z"})
    assert host.names() == ["x", "z"]


def test_folders_attach_and_replace_generated_adapters(base, loras, tmp_path):
    loras[0].save_pretrained(tmp_path / "first")
    loras[1].save_pretrained(tmp_path / "second")
    host = AdapterHost(base)
    host.attach("folder", tmp_path / "first")  # wraps the base model from a folder
    assert torch.equal(lora_a(host, "folder"), loras[0].state_dict[Q_PROJ_A])
    host.attach("folder", str(tmp_path / "second"))  # another folder under the only name replaces it
    assert torch.equal(lora_a(host, "folder"), loras[1].state_dict[Q_PROJ_A])
    host.attach("gen", loras[2])
    host.attach("gen", tmp_path / "first")  # a folder where a generated adapter was
    assert torch.equal(lora_a(host, "gen"), loras[0].state_dict[Q_PROJ_A])
    assert set(host.model.peft_config) == {"folder", "gen"} and host.model.get_base_model() is base  # never rebuilt
    with pytest.raises(ValueError, match="has no adapter_config.json"):
        host.attach("bad", tmp_path)
    with pytest.raises(ValueError, match="names the rows without adapter"):
        host.attach(BASE_ADAPTER, loras[0])


def test_other_shapes_under_an_existing_name_replace_the_adapter(base, loras, tokenizer):
    wide = make_tiny_t2l(make_tiny_llama(vocab_size=len(tokenizer), max_position_embeddings=256), lora_rank=4)
    host = AdapterHost(base)
    host.attach("a", loras[0])
    small = wide.generate_lora("reverse words")
    host.attach("a", small)
    assert lora_a(host, "a").shape[0] == 4 and torch.equal(lora_a(host, "a"), small.state_dict[Q_PROJ_A])
    assert host.model.get_base_model() is base


def test_rows_without_adapter_run_on_the_base_model(base, loras, tokenizer):
    host = AdapterHost(base)
    plain = generate_chat(host.model, tokenizer, ["hi there"], max_new_tokens=6, do_sample=False)
    host.attach("a", loras[0])
    prompts = ["hi there", "hi there", "a longer question, please?"]
    mixed = generate_chat(
        host.model, tokenizer, prompts, adapter_names=host.adapter_names(["a", None, "a"]), max_new_tokens=6,
        do_sample=False,
    )  # fmt: skip
    with host.active("a") as model:
        adapted = [generate_chat(model, tokenizer, [p], max_new_tokens=6, do_sample=False)[0] for p in prompts]
    with host.active(None) as model:
        assert generate_chat(model, tokenizer, ["hi there"], max_new_tokens=6, do_sample=False) == plain
    assert mixed == [adapted[0], plain[0], adapted[2]]
    assert adapted[0] != plain[0]  # the adapter changes the answer


# ---- batched chat generation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["right", "left"])
def test_left_padded_batch_equals_each_prompt_alone(base, tokenizer, side):
    tokenizer.padding_side = side
    prompts = ["hi", "what is the capital of france? answer in one word."]
    batched = generate_chat(base, tokenizer, prompts, max_new_tokens=8, do_sample=False)
    alone = []
    for p in prompts:  # plain greedy generation, one prompt at a time: no padding at all
        ids = torch.tensor([encode_prompts(tokenizer, [p])[0]])
        out = base.generate(input_ids=ids, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        alone.append(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))
    assert batched == alone and batched[0] != batched[1]
    assert (
        generate_chat(base, tokenizer, prompts[::-1], batch_size=1, max_new_tokens=8, do_sample=False) == alone[::-1]
    )
    assert tokenizer.padding_side == side  # the caller's tokenizer is left as it was
    tokenizer.padding_side = "right"


def test_prompts_can_be_turns_conversations_or_token_ids(tokenizer):
    turn = [{"role": "user", "content": "hi"}]
    rendered = tokenizer.apply_chat_template(turn, add_generation_prompt=True, tokenize=False)
    expected = tokenizer(rendered, add_special_tokens=False)["input_ids"]
    rows = encode_prompts(tokenizer, ["hi", turn, expected, torch.tensor(expected)])
    assert rows == [expected] * 4
    assert encode_prompts(tokenizer, ["hi"], chat=False) == [tokenizer("hi")["input_ids"]]
    ids, mask = left_pad([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_bad_prompts_and_row_counts_are_refused(base, tokenizer):
    with pytest.raises(ValueError, match="single prompt; pass a list"):
        generate_chat(base, tokenizer, "hi")
    with pytest.raises(ValueError, match="needs chat=True"):
        encode_prompts(tokenizer, [[{"role": "user", "content": "hi"}]], chat=False)
    with pytest.raises(ValueError, match=r"prompts\[1\]=.* is not a prompt"):
        encode_prompts(tokenizer, ["hi", []])
    with pytest.raises(ValueError, match="got 1 adapter_names for 2 prompts"):
        generate_chat(base, tokenizer, ["a", "b"], adapter_names=[BASE_ADAPTER])
    assert generate_chat(base, tokenizer, []) == []
