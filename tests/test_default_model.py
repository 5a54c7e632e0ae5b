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
    summary = config["training_summary"]
    # trained by SFT, or a weight average of SFT runs (t2l train average) that records each part's training config
    parts = summary["averaged"] if summary["regime"] == "weight average" else [summary]
    assert config["dtype"] == "bfloat16" and all(p["regime"] == "sft" and p["training_config"] for p in parts)
    card = (EMBEDDED_T2L / "README.md").read_text()
    assert "## Evaluation" in card and "| ROUGE-L |" in card and "t2l train sft" in card
    # the card leads with the conditioning gaps (own description minus controls), before usage and training
    assert card.index("## Headline: own description minus controls") < card.index("## Usage")
    assert "another task's description (`random`) | **+" in card.split("## Usage")[0]


def test_default_is_data_loaded_through_the_package_class():
    # the model code lives in the package once; save_pretrained/push_to_hub write it for remote-code users
    assert not list(EMBEDDED_T2L.glob("*.py"))
    from transformers import AutoModel

    from peft_t2l import T2LModel

    model = AutoModel.from_pretrained(EMBEDDED_T2L)
    assert isinstance(model, T2LModel) and model.config.training_summary["unseen_tasks"]


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


README_DESCRIPTION = (
    "In this task, you will evaluate a statement and three possible responses. Your objective is to identify which "
    "response presents an opposing viewpoint or argument to the original statement provided."
)
README_PROMPT = (
    "Statement: Tuppence must be avenged. Choices: 1. There must be vengeance for Tuppence. 2. Tuppence had been made "
    "to suffer and it wasn't fair. 3. There's no need to avenge Tuppence."
)


def test_readme_main_command(capsys):
    """The README's first command: an unseen task (MNLI contradiction) where the default beats the base model."""
    readme = (EMBEDDED_T2L.parents[1] / "README.md").read_text()
    first_command = readme.split("```bash", 1)[1].split("```", 1)[0]
    assert README_DESCRIPTION in first_command and README_PROMPT in first_command
    code = main(["demo", README_DESCRIPTION, "--prompt", README_PROMPT, "--max-new-tokens", "16"])
    out = capsys.readouterr().out
    assert code == 0
    adapted = out.split("with adapter:", 1)[1].splitlines()[0].strip()
    base = out.split("base model  :", 1)[1].splitlines()[0].strip()
    assert adapted == "3" and base != "3"  # the gold answer, which the base model does not give
    assert "measured    : on unseen SNI tasks" in out
