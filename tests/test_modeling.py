"""The hypernetwork: config validation, head shapes, batching, persistence, auto classes, remote code."""

import ast
import json
import sys
from pathlib import Path

import pytest
import torch
from conftest import HashEncoder, make_tiny_llama, make_tiny_t2l, run_without_peft_t2l
from transformers import AutoConfig, AutoModel

from peft_t2l import T2LConfig, T2LModel, generate_lora, modeling_t2l

SMOL = dict(num_layers=3)  # SmolLM2-135M module shapes (the config defaults), fewer layers


@pytest.mark.parametrize(
    ("head", "out_size"), [("L", 8 * (576 + 576)), ("M", 8 * 576), ("S", 576)], ids=["L", "M", "S"]
)
def test_head_output_sizes_and_lora_shapes(head, out_size):
    model = T2LModel(T2LConfig(head=head, **SMOL))
    assert model.heads["q_proj"].out_features == out_size
    out = model(torch.randn(4, 384))
    assert out.lora_A["q_proj"].shape == (4, 3, 8, 576)
    assert out.lora_B["q_proj"].shape == (4, 3, 576, 8)
    assert out.lora_A["v_proj"].shape == (4, 3, 8, 576)
    assert out.lora_B["v_proj"].shape == (4, 3, 192, 8)


def test_init_matches_lora_init(head):
    """Zero head weights: every description gets the same initial LoRA; for the L head B starts at zero."""
    model = T2LModel(T2LConfig(head=head, **SMOL)).eval()
    out = model(torch.randn(2, 384))
    torch.testing.assert_close(out.lora_A["q_proj"][0], out.lora_A["q_proj"][1])
    assert out.lora_A["q_proj"].abs().max() > 0
    if head == "L":
        assert out.lora_B["q_proj"].abs().max() == 0


def test_batched_forward_equals_one_by_one(head):
    base = make_tiny_llama()
    model = make_tiny_t2l(base, head=head)
    emb = torch.randn(5, model.config.task_emb_size)
    batched = model(emb)
    for i in range(5):
        single = model(emb[i : i + 1])
        for m in model.config.target_modules:
            torch.testing.assert_close(batched.lora_A[m][i], single.lora_A[m][0], rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(batched.lora_B[m][i], single.lora_B[m][0], rtol=1e-5, atol=1e-6)


def test_different_layers_and_descriptions_get_different_loras():
    model = make_tiny_t2l(make_tiny_llama(), head="M")
    out = model(torch.randn(2, model.config.task_emb_size))
    a = out.lora_A["q_proj"]
    assert not torch.allclose(a[0], a[1])  # descriptions
    assert not torch.allclose(a[0, 0], a[0, 1])  # layers


def test_gradients_reach_every_trainable_parameter(head):
    model = make_tiny_t2l(make_tiny_llama(), head=head).train()
    out = model(torch.randn(3, model.config.task_emb_size))
    loss = sum(v.square().sum() for v in (*out.lora_A.values(), *out.lora_B.values()))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_output_affine_buffers_apply():
    model = T2LModel(T2LConfig(use_output_affine=True, **SMOL)).eval()
    emb = torch.randn(1, 384)
    before = model(emb).lora_A["v_proj"]
    model.output_shift_A_v_proj.fill_(1.0)
    model.output_scale_A_v_proj.fill_(2.0)
    torch.testing.assert_close(model(emb).lora_A["v_proj"], before * 2 + 1)
    assert "output_shift_A_v_proj" in model.state_dict()


def test_wrong_embedding_shape_is_a_clear_error():
    model = T2LModel(T2LConfig(**SMOL))
    with pytest.raises(ValueError, match=r"expected \[batch, 384\]"):
        model(torch.randn(2, 100))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lora_rank": 0}, r"lora_rank=0 .*positive"),
        ({"lora_rank": -3}, r"lora_rank=-3"),
        ({"head": "XL"}, r"head='XL'.*one of"),
        ({"target_modules": ["q_proj", "up_proj"]}, r"in_features\['up_proj'\]"),
        ({"target_modules": []}, r"target_modules=\[\]"),
        ({"latent_size": 130}, r"latent_size=130.*multiple of 4"),
        ({"dropout": 1.5}, r"dropout=1.5"),
        ({"encoder_type": "bag-of-words"}, r"encoder_type='bag-of-words'"),
        ({"encoder_type": "one_hot"}, r"task_names=None"),
        ({"encoder_type": "one_hot", "task_names": ["a", "b"]}, r"task_emb_size=384.*len\(task_names\) = 2"),
        ({"module_paths": {"q_proj": "model.q_proj", "v_proj": "x.{layer}.v"}}, r"module_paths\['q_proj'\]"),
    ],
)
def test_bad_config_values_name_field_value_and_fix(kwargs, match):
    with pytest.raises(ValueError, match=match):
        T2LConfig(**kwargs)


def test_from_base_model_reads_shapes_without_weights():
    from transformers import LlamaConfig

    cfg = LlamaConfig(
        hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=8, num_key_value_heads=2
    )
    t2l = T2LModel.from_base_model(cfg, target_modules=["q_proj", "v_proj", "down_proj"], lora_rank=4)
    c = t2l.config
    assert c.num_layers == 3 and c.lora_rank == 4 and c.lora_alpha == 8.0 and c.head == "M"
    assert c.in_features == {"q_proj": 64, "v_proj": 64, "down_proj": 96}
    assert c.out_features == {"q_proj": 64, "v_proj": 16, "down_proj": 64}
    assert c.module_paths["down_proj"] == "model.layers.{layer}.mlp.down_proj"


def test_from_base_model_unknown_target_module():
    with pytest.raises(ValueError, match=r"'qkv_proj' is not a per-layer Linear.*choose from .*'q_proj'"):
        T2LModel.from_base_model(make_tiny_llama(), target_modules=["qkv_proj"], task_emb_size=16)


def test_save_load_round_trip_and_automodel(tmp_path, head):
    model = make_tiny_t2l(make_tiny_llama(), head=head)
    model.save_pretrained(tmp_path)
    files = {p.name for p in tmp_path.iterdir()}
    assert {"config.json", "model.safetensors", "README.md", "modeling_t2l.py", "configuration_t2l.py"} <= files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pkl", ".pth"))]
    assert json.loads((tmp_path / "config.json").read_text())["auto_map"]["AutoModel"] == "modeling_t2l.T2LModel"
    assert isinstance(AutoConfig.from_pretrained(tmp_path), T2LConfig)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is T2LModel  # the package's class, with generate_lora
    emb = torch.randn(2, model.config.task_emb_size)
    torch.testing.assert_close(loaded(emb).lora_B["v_proj"], model(emb).lora_B["v_proj"], rtol=0, atol=0)


def test_bf16_model_generates_in_bf16(tmp_path):
    model = make_tiny_t2l(make_tiny_llama()).to(torch.bfloat16)
    out = model(torch.randn(1, model.config.task_emb_size))
    assert out.lora_A["q_proj"].dtype == torch.bfloat16
    model.save_pretrained(tmp_path)
    assert AutoModel.from_pretrained(tmp_path).dtype == torch.bfloat16


def test_trust_remote_code_in_a_process_without_the_package(tmp_path):
    model = make_tiny_t2l(make_tiny_llama(), head="S")
    model.save_pretrained(tmp_path / "t2l")
    emb = torch.randn(2, model.config.task_emb_size)
    torch.save({"emb": emb, "A": model(emb).lora_A["q_proj"]}, tmp_path / "expected.pt")
    out = run_without_peft_t2l(
        f"""
        import torch
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(tmp_path / "t2l")!r}, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        expected = torch.load({str(tmp_path / "expected.pt")!r})
        torch.testing.assert_close(model(expected["emb"]).lora_A["q_proj"], expected["A"])
        for method in ("generate_lora", "embed_descriptions"):
            try:
                getattr(model, method)("anything")
            except ImportError as err:
                assert "pip install peft-t2l" in str(err), err
            else:
                raise SystemExit(method + " should explain that it needs the package")
        print("REMOTE-OK")
        """,
        tmp_path,
    )
    assert "REMOTE-OK" in out


def test_saved_folder_ships_the_pure_model_file(tmp_path):
    """The remote code is modeling_t2l.py (not the package's subclass), importing only torch/transformers/its config."""
    make_tiny_t2l(make_tiny_llama()).save_pretrained(tmp_path)
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert auto_map == {"AutoConfig": "configuration_t2l.T2LConfig", "AutoModel": "modeling_t2l.T2LModel"}
    assert sorted(p.name for p in tmp_path.glob("*.py")) == ["configuration_t2l.py", "modeling_t2l.py"]
    shipped = (tmp_path / "modeling_t2l.py").read_text()
    assert shipped == Path(modeling_t2l.__file__).read_text()
    imports = set()
    for node in ast.walk(ast.parse(shipped)):  # inside functions too: a late import would fail just the same
        if isinstance(node, ast.Import):
            imports |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imports.add("." * node.level + (node.module or "").split(".")[0])
    assert imports - set(sys.stdlib_module_names) == {"torch", "transformers", ".configuration_t2l"}


def test_automodel_with_the_package_gives_the_package_class(tmp_path):
    """With peft_t2l imported, AutoModel returns the class with generate_lora, even with trust_remote_code=True."""
    model = make_tiny_t2l(make_tiny_llama())
    model.save_pretrained(tmp_path)
    expected = model.generate_lora("sort a list of numbers")
    for kwargs in ({}, {"trust_remote_code": True}):
        loaded = AutoModel.from_pretrained(tmp_path, **kwargs)
        assert type(loaded) is T2LModel, kwargs
        loaded.set_text_encoder(HashEncoder(model.config.task_emb_size))
        lora = loaded.generate_lora("sort a list of numbers")
        for key, tensor in expected.state_dict.items():
            torch.testing.assert_close(lora.state_dict[key], tensor, rtol=0, atol=0)


def test_pure_class_says_where_text_handling_lives(tmp_path):
    pure = modeling_t2l.T2LModel(T2LConfig(**SMOL))
    for call in (
        lambda: pure.generate_lora("x"),
        lambda: pure.embed_descriptions("x"),
        lambda: pure.from_base_model(1),
    ):
        with pytest.raises(ImportError, match="pip install peft-t2l"):
            call()
    with pytest.raises(ValueError, match=r"needs a peft_t2l.T2LModel.*T2LModel.from_pretrained"):
        generate_lora(pure, "x")
    # a pure model saved from here still ships its own code
    pure.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["auto_map"]["AutoModel"] == "modeling_t2l.T2LModel"
    assert (tmp_path / "modeling_t2l.py").exists()
    assert type(T2LModel.from_pretrained(tmp_path)) is T2LModel


def test_text_encoder_is_owned_but_not_part_of_the_weights():
    class ModuleEncoder(torch.nn.Module):  # an encoder that happens to be a torch Module
        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(1, 16)

        def encode(self, descriptions):
            return self.proj(torch.ones(len(descriptions), 1))

    model = make_tiny_t2l(make_tiny_llama())
    keys, n_params = set(model.state_dict()), len(list(model.parameters()))
    encoder = ModuleEncoder()
    model.set_text_encoder(encoder)
    assert model.text_encoder is encoder
    assert set(model.state_dict()) == keys and len(list(model.parameters())) == n_params
    assert model.embed_descriptions(["a", "b"]).shape == (2, 16)


def test_model_card_content(tmp_path):
    model = make_tiny_t2l(make_tiny_llama())
    model.config.base_model_name_or_path = "my-org/tiny-llama"
    model.config.training_summary = {"regime": "sft", "tasks": 3, "datasets": ["sni"]}
    model.save_pretrained(tmp_path)
    card = (tmp_path / "README.md").read_text()
    assert card.startswith("---\n")
    header = card.split("---")[1]
    assert (
        "base_model: my-org/tiny-llama" in header and "text-to-lora" in header and "library_name: peft-t2l" in header
    )
    assert "generate_lora(" in card and "**regime**: sft" in card and "| head | M |" in card
