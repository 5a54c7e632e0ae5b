"""The embedded default: a trained T2L for SmolLM2-135M-Instruct shipped in the package, and the README's main command."""

import json

import pytest
import torch
from peft import PeftModel

from peft_t2l import DEFAULT_BASE_MODEL, load_base_model, load_t2l_model
from peft_t2l.cli import main
from peft_t2l.defaults import EMBEDDED_T2L

pytestmark = pytest.mark.real


def test_default_is_small_compact_and_documented():
    size = sum(p.stat().st_size for p in EMBEDDED_T2L.rglob("*") if p.is_file())
    assert size < 50 * 2**20
    config = json.loads((EMBEDDED_T2L / "config.json").read_text())
    assert config["model_type"] == "t2l" and config["base_model_name_or_path"] == DEFAULT_BASE_MODEL
    assert config["dtype"] == "bfloat16" and config["training_summary"]["regime"] == "sft"
    card = (EMBEDDED_T2L / "README.md").read_text()
    assert "## Evaluation" in card and "| ROUGE-L |" in card and "t2l train sft" in card


def test_default_ships_the_package_model_code_for_remote_code_users():
    # save_pretrained copies these for trust_remote_code; after a change to the package, re-run scripts/ship_default.py
    package = EMBEDDED_T2L.parent
    for name in ("modeling_t2l.py", "configuration_t2l.py"):
        assert (EMBEDDED_T2L / name).read_text() == (package / name).read_text(), (
            f"{name} drifted: re-ship the default"
        )


def test_default_writes_description_dependent_adapters():
    t2l = load_t2l_model("default")
    assert t2l.dtype == torch.bfloat16
    a, b = t2l.generate_lora(["Write the antonym of the given word.", "Answer the math question with a number."])
    key = "base_model.model.model.layers.5.self_attn.q_proj.lora_B.weight"
    assert not torch.equal(a.state_dict[key], b.state_dict[key])


def test_multitask_baseline_beside_the_default_is_plain_peft():
    base, _ = load_base_model()
    model = PeftModel.from_pretrained(base, str(EMBEDDED_T2L / "multitask_lora"))
    assert model.peft_config["default"].r == 8


def test_readme_main_command(capsys):
    code = main(["demo", "Given a country, answer with the name of its capital city.", "--prompt", "Japan",
                 "--max-new-tokens", "6"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "base model  :" in out and "with adapter:" in out
