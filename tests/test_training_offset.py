"""SFT from an adapter offset: step 0 reproduces the given LoRA (e.g. the multi-task LoRA) for every description."""

from __future__ import annotations

import pytest
import torch
from conftest import HashEncoder
from peft import LoraConfig, get_peft_model
from test_training_helpers import run_fields, tiny_base, tiny_tasks

from peft_t2l import T2LModel
from peft_t2l.training.config import SFTConfig, config_from_dict
from peft_t2l.training.sft import start_from_adapter, train_sft


def _random_adapter(base, folder, *, alpha: float) -> dict[str, torch.Tensor]:
    peft_model = get_peft_model(
        base, LoraConfig(r=8, lora_alpha=alpha, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    peft_model.save_pretrained(folder)
    weights = {k: v.detach().clone() for k, v in peft_model.state_dict().items() if "lora_" in k}
    peft_model.unload()
    return weights


def test_start_from_adapter_reproduces_its_delta_w(tmp_path):
    base, _ = tiny_base()
    weights = _random_adapter(base, tmp_path / "mt", alpha=32.0)  # scaling 4; the T2L model uses alpha 16 (scaling 2)
    t2l = T2LModel.from_base_model(
        base, lora_alpha=16.0, use_output_affine=True, head_use_bias=False, task_emb_size=16
    )
    t2l.set_text_encoder(HashEncoder(16))
    start_from_adapter(t2l, tmp_path / "mt")
    one, two = t2l.generate_lora(["answer yes", "a different task"])
    for layer in range(base.config.num_hidden_layers):
        key = f"base_model.model.model.layers.{layer}.self_attn.v_proj"
        a, b = weights[f"{key}.lora_A.default.weight"], weights[f"{key}.lora_B.default.weight"]
        for lora in (one, two):
            ga, gb = lora.state_dict[f"{key}.lora_A.weight"], lora.state_dict[f"{key}.lora_B.weight"]
            torch.testing.assert_close(2.0 * gb @ ga, 4.0 * b @ a)


def test_start_from_adapter_needs_affine_buffers_and_no_bias(tmp_path):
    base, _ = tiny_base()
    _random_adapter(base, tmp_path / "mt", alpha=16.0)
    t2l = T2LModel.from_base_model(base, task_emb_size=16)
    with pytest.raises(ValueError, match="use_output_affine=True and head_use_bias=False"):
        start_from_adapter(t2l, tmp_path / "mt")


@pytest.mark.real
def test_sft_with_offset_starts_at_the_adapter_and_trains(tmp_path):
    base, tokenizer = tiny_base()
    _random_adapter(base, tmp_path / "mt", alpha=16.0)
    fields = run_fields(tmp_path, max_steps=4, offset_from_lora=str(tmp_path / "mt"), latent_size=32, head_in_size=48)
    config = config_from_dict(SFTConfig, fields)
    result = train_sft(config, base_model=base, tokenizer=tokenizer, tasks=tiny_tasks())
    model = result.model
    assert model.config.use_output_affine and not model.config.head_use_bias
    assert any(h.weight.abs().sum() > 0 for h in model.heads.values())  # the heads moved off zero
    saved = T2LModel.from_pretrained(result.model_dir)
    torch.testing.assert_close(saved.output_shift_A_q_proj, model.output_shift_A_q_proj)
