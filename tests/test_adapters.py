"""Generated adapters: PEFT format, export, fresh-process equality, hot-swap, per-row adapters, bad input."""

import json
import warnings

import pytest
import torch
from conftest import HashEncoder, make_tiny_llama, make_tiny_t2l, run_without_peft_t2l
from peft import PeftModel
from safetensors.torch import load_file

from peft_t2l import GeneratedLoRA
from peft_t2l.encoders import SentenceTransformerEncoder

IDS = torch.tensor([[1, 5, 9, 17, 33, 2], [4, 4, 8, 15, 16, 23]])


def test_generate_lora_is_a_plain_peft_lora(head):
    base = make_tiny_llama()
    t2l = make_tiny_t2l(base, head=head)
    lora = t2l.generate_lora("solve grade-school math")
    assert isinstance(lora, GeneratedLoRA)
    cfg = lora.lora_config
    assert cfg.peft_type.value == "LORA" and cfg.r == 8 and cfg.lora_alpha == 16.0
    assert set(cfg.target_modules) == {"q_proj", "v_proj"}
    assert len(lora.state_dict) == 2 * 2 * 2  # layers x modules x (A, B)
    a = lora.state_dict["base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight"]
    b = lora.state_dict["base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"]
    assert a.shape == (8, 32) and b.shape == (16, 8)


def test_list_of_descriptions_equals_one_by_one():
    t2l = make_tiny_t2l(make_tiny_llama(), head="L")
    texts = ["translate to french", "count the vowels", "summarise the news"]
    batch = t2l.generate_lora(texts)
    assert [lora.description for lora in batch] == texts
    for text, lora in zip(texts, batch):
        single = t2l.generate_lora(text)
        for k, v in single.state_dict.items():
            torch.testing.assert_close(lora.state_dict[k], v, rtol=1e-5, atol=1e-6)
    assert not torch.equal(
        *(lo.state_dict["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"] for lo in batch[:2])
    )


def test_peft_model_output_matches_manual_lora_math():
    base = make_tiny_llama()
    t2l = make_tiny_t2l(base)
    lora = t2l.generate_lora("answer yes or no")
    peft_model = lora.to_peft_model(make_tiny_llama())
    # the q_proj of layer 0, wrapped by PEFT, must compute W x + scaling * B A x
    layer = peft_model.get_base_model().model.layers[0].self_attn.q_proj
    x = torch.randn(3, 32)
    a = lora.state_dict["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"]
    b = lora.state_dict["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]
    expected = layer.base_layer(x) + t2l.config.scaling * x @ a.T @ b.T
    torch.testing.assert_close(layer(x), expected)


@pytest.mark.slow  # a fresh interpreter imports torch, transformers and peft: minutes on a busy 2-core machine
def test_saved_adapter_loads_in_fresh_process_without_peft_t2l(tmp_path):
    base = make_tiny_llama()
    base.save_pretrained(tmp_path / "base")
    t2l = make_tiny_t2l(base)
    t2l.config.base_model_name_or_path = str(tmp_path / "base")
    lora = t2l.generate_lora("classify sentiment of movie reviews")
    peft_model = lora.to_peft_model(make_tiny_llama())
    with torch.no_grad():
        expected = peft_model(IDS).logits
    torch.save({"logits": expected}, tmp_path / "expected.pt")
    lora.save_pretrained(tmp_path / "adapter")
    assert {p.name for p in (tmp_path / "adapter").iterdir()} == {
        "adapter_config.json",
        "adapter_model.safetensors",
        "README.md",
    }
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["base_model_name_or_path"] == str(tmp_path / "base")
    out = run_without_peft_t2l(
        f"""
        import torch
        from peft import AutoPeftModelForCausalLM
        model = AutoPeftModelForCausalLM.from_pretrained({str(tmp_path / "adapter")!r}).eval()
        ids = torch.tensor({IDS.tolist()})
        with torch.no_grad():
            logits = model(ids).logits
        torch.testing.assert_close(logits, torch.load({str(tmp_path / "expected.pt")!r})["logits"], rtol=1e-5, atol=1e-5)
        print("FRESH-OK")
        """,
        tmp_path,
    )
    assert "FRESH-OK" in out


def test_adapter_model_card(tmp_path):
    t2l = make_tiny_t2l(make_tiny_llama())
    t2l.config.base_model_name_or_path = "my-org/tiny"
    t2l.config.name_or_path = "my-org/t2l-tiny"
    t2l.generate_lora("extract all dates from a text").save_pretrained(tmp_path)
    card = (tmp_path / "README.md").read_text()
    assert "base_model: my-org/tiny" in card and "library_name: peft" in card
    assert "> extract all dates from a text" in card and "my-org/t2l-tiny" in card


def test_save_never_leaves_a_truncated_adapter(tmp_path, monkeypatch):
    t2l = make_tiny_t2l(make_tiny_llama())
    good = t2l.generate_lora("first task")
    good.save_pretrained(tmp_path)
    before = (tmp_path / "adapter_model.safetensors").read_bytes()

    import peft_t2l.generated_lora as generated_lora

    def crash(tensors, path, metadata=None):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(generated_lora, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        t2l.generate_lora("second task").save_pretrained(tmp_path)
    assert (tmp_path / "adapter_model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    load_file(tmp_path / "adapter_model.safetensors")


def test_hotswap_changes_output_and_matches_fresh_build():
    base = make_tiny_llama()
    t2l = make_tiny_t2l(base)
    peft_model = t2l.generate_lora("count words").to_peft_model(make_tiny_llama())
    with torch.no_grad():
        before = peft_model(IDS).logits
    params_before = {n: p for n, p in peft_model.named_parameters()}
    new = t2l.generate_lora("reverse the list")
    new.load_into(peft_model, adapter_name="default")
    with torch.no_grad():
        after = peft_model(IDS).logits
    assert not torch.allclose(before, after)
    # in place: the very same parameter objects, no rebuild
    assert all(p is params_before[n] for n, p in peft_model.named_parameters())
    fresh = new.to_peft_model(make_tiny_llama())
    with torch.no_grad():
        torch.testing.assert_close(after, fresh(IDS).logits)


def test_per_row_adapter_names():
    base = make_tiny_llama()
    t2l = make_tiny_t2l(base)
    one, two = t2l.generate_lora(["spell check a sentence", "answer trivia questions"])
    peft_model = one.to_peft_model(make_tiny_llama(), adapter_name="one")
    two.load_into(peft_model, adapter_name="two")
    with torch.no_grad():
        mixed = peft_model(IDS, adapter_names=["two", "__base__"]).logits
        peft_model.set_adapter("two")
        only_two = peft_model(IDS).logits
        with peft_model.disable_adapter():
            plain = peft_model(IDS).logits
    torch.testing.assert_close(mixed[0], only_two[0])
    torch.testing.assert_close(mixed[1], plain[1])
    assert not torch.allclose(only_two[1], plain[1])


def test_attached_lora_follows_base_dtype_and_device():
    t2l = make_tiny_t2l(make_tiny_llama())
    lora = t2l.generate_lora("tag parts of speech")
    peft_model = lora.to_peft_model(make_tiny_llama().to(torch.bfloat16))
    dtypes = {p.dtype for n, p in peft_model.named_parameters() if "lora_" in n}
    assert dtypes == {torch.bfloat16}
    with torch.no_grad():
        assert peft_model(IDS).logits.dtype == torch.bfloat16


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        ("", ValueError, r"descriptions\[0\]='' is empty"),
        ("   \n", ValueError, r"is empty; describe the task"),
        (42, TypeError, r"descriptions=42 is not a description"),
        ([], TypeError, r"non-empty list"),
        (["ok", None], TypeError, r"descriptions\[1\]=None is a NoneType"),
    ],
)
def test_bad_descriptions(bad, error, match):
    t2l = make_tiny_t2l(make_tiny_llama())
    with pytest.raises(error, match=match):
        t2l.generate_lora(bad)


@pytest.mark.real
def test_over_long_description_is_truncated_with_a_warning():
    from peft_t2l.defaults import DEFAULT_ENCODER

    encoder = SentenceTransformerEncoder(DEFAULT_ENCODER, max_length=16)
    long = "classify the sentiment of the review " * 20
    with pytest.warns(UserWarning, match=r"longer than the encoder's limit of 16 tokens.*only their first 16"):
        emb = encoder.encode([long, "short one"])
    assert emb.shape == (2, 384)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encoder.encode(["short one"])  # no warning when nothing is cut


def test_mismatched_base_model_is_a_clear_error():
    t2l = make_tiny_t2l(make_tiny_llama())
    lora = t2l.generate_lora("answer questions")
    other = make_tiny_llama(hidden_size=48, intermediate_size=64)
    with pytest.raises(ValueError, match=r"q_proj' of the base model is 48->48, but the adapter expects 32->32"):
        lora.to_peft_model(other)
    shallow = make_tiny_llama(num_hidden_layers=1)
    with pytest.raises(ValueError, match=r"has no module 'model.layers.1.self_attn.q_proj'"):
        lora.to_peft_model(shallow)


def test_generation_runs_on_the_models_device_and_keeps_training_mode():
    t2l = make_tiny_t2l(make_tiny_llama()).train()
    lora = t2l.generate_lora("do something")
    assert t2l.training  # restored
    assert all(v.device == t2l.device for v in lora.state_dict.values())
    assert not any(v.requires_grad for v in lora.state_dict.values())


def test_precomputed_task_embeddings_skip_the_encoder():
    t2l = make_tiny_t2l(make_tiny_llama())
    emb = HashEncoder(16).encode(["a task"])
    t2l.set_text_encoder(None)  # would otherwise load the config's encoder
    lora = t2l.generate_lora("a task", task_embeddings=emb)
    t2l.set_text_encoder(HashEncoder(16))
    ref = t2l.generate_lora("a task")
    for k in ref.state_dict:
        torch.testing.assert_close(lora.state_dict[k], ref.state_dict[k])


def test_loaded_peft_model_is_peft_model():
    t2l = make_tiny_t2l(make_tiny_llama())
    assert isinstance(t2l.generate_lora("x y z").to_peft_model(make_tiny_llama()), PeftModel)
