"""The PEFT side: T2LLoraConfig -> PeftModel, switching tasks in place, several named tasks."""

import pytest
import torch
from conftest import make_tiny_llama, make_tiny_t2l
from peft import PeftModel

from peft_t2l import T2LLoraConfig, add_task, get_peft_model, load_t2l_model, switch_task

IDS = torch.tensor([[3, 1, 4, 1, 5, 9], [2, 7, 1, 8, 2, 8]])


def test_config_builds_a_peft_model_with_the_generated_lora():
    t2l = make_tiny_t2l(make_tiny_llama())
    peft_model = get_peft_model(make_tiny_llama(), T2LLoraConfig(t2l_model=t2l, task_description="add two numbers"))
    assert isinstance(peft_model, PeftModel)
    assert peft_model.peft_config["default"].peft_type.value == "LORA"
    expected = t2l.generate_lora("add two numbers").to_peft_model(make_tiny_llama())
    with torch.no_grad():
        torch.testing.assert_close(peft_model(IDS).logits, expected(IDS).logits)


def test_switch_task_in_place_then_back():
    t2l = make_tiny_t2l(make_tiny_llama())
    peft_model = get_peft_model(make_tiny_llama(), T2LLoraConfig(t2l_model=t2l, task_description="first task"))
    with torch.no_grad():
        first = peft_model(IDS).logits
        switch_task(peft_model, "a completely different second task")
        second = peft_model(IDS).logits
        switch_task(peft_model, "first task")
        again = peft_model(IDS).logits
    assert not torch.allclose(first, second)
    torch.testing.assert_close(first, again)


def test_add_task_and_per_row_adapters():
    t2l = make_tiny_t2l(make_tiny_llama())
    peft_model = get_peft_model(make_tiny_llama(), T2LLoraConfig(t2l_model=t2l, task_description="task one"))
    add_task(peft_model, "task two", adapter_name="two")
    with torch.no_grad():
        rows = peft_model(IDS, adapter_names=["default", "two"]).logits
        peft_model.set_adapter("two")
        two = peft_model(IDS).logits
    torch.testing.assert_close(rows[1], two[1])
    with pytest.raises(ValueError, match="already exists; use switch_task"):
        add_task(peft_model, "again", adapter_name="two")
    with pytest.raises(ValueError, match=r"adapter_name='nope' is not an adapter.*use add_task"):
        switch_task(peft_model, "x", adapter_name="nope")


def test_switch_task_needs_a_t2l_model():
    lora = make_tiny_t2l(make_tiny_llama()).generate_lora("x")
    peft_model = lora.to_peft_model(make_tiny_llama())
    with pytest.raises(ValueError, match="pass t2l_model="):
        switch_task(peft_model, "y")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task_description": ""}, r"task_description='' is empty"),
        ({"task_description": "  "}, r"task_description='  ' is empty"),
        ({"task_description": "ok", "t2l_model": 3}, r"t2l_model=3 is neither"),
        ({"task_description": "ok", "adapter_name": "a.b"}, r"adapter_name='a.b' is invalid"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        T2LLoraConfig(**kwargs)


def test_load_t2l_model_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_t2l_model(tmp_path)
    t2l = make_tiny_t2l(make_tiny_llama())
    t2l.save_pretrained(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"model.safetensors|corrupt or truncated"):
        load_t2l_model(tmp_path / "m")
