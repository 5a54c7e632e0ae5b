"""LoRA baselines: oracle LoRAs (one per task) and a multi-task LoRA, saved as standard PEFT folders."""

from __future__ import annotations

import json

import pytest
import torch
from peft import PeftModel
from test_training_helpers import run_fields, tiny_base, tiny_tasks

from peft_t2l.training.config import LoraTrainConfig, config_from_dict
from peft_t2l.training.lora import train_lora

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is faster here


def test_oracle_loras_are_plain_peft_folders_and_the_base_stays_clean(tmp_path):
    base, tokenizer = tiny_base()
    before = {k: v.clone() for k, v in base.state_dict().items()}
    config = config_from_dict(LoraTrainConfig, run_fields(tmp_path, max_steps=15, learning_rate=1e-2, lora_rank=4))
    result = train_lora(config, base_model=base, tokenizer=tokenizer, tasks=tiny_tasks())

    assert sorted(result.adapter_dirs) == ["say_maybe", "say_no", "say_yes"]
    for name, run in result.runs.items():
        assert run.losses[-1] < run.losses[0], name
        assert run.summary["tasks"] == [name] and run.summary["regime"] == "oracle_lora"
    adapter_config = json.loads((result.adapter_dirs["say_yes"] / "adapter_config.json").read_text())
    assert (adapter_config["peft_type"], adapter_config["r"]) == ("LORA", 4)
    assert not any("lora" in n for n, _ in base.named_modules())  # unloaded after each task
    assert all(torch.equal(v, before[k]) for k, v in base.state_dict().items())

    peft_model = PeftModel.from_pretrained(base, result.adapter_dirs["say_yes"])  # stock PEFT loads it
    trained = {n: p for n, p in peft_model.named_parameters() if "lora_B" in n}
    assert trained and all(p.abs().sum() > 0 for p in trained.values())  # B left its zero init


def test_oracle_resume_skips_finished_tasks(tmp_path):
    base, tokenizer = tiny_base()
    fields = run_fields(tmp_path, max_steps=2, tasks=["say_yes", "say_no"])
    train_lora(config_from_dict(LoraTrainConfig, fields), base_model=base, tokenizer=tokenizer, tasks=tiny_tasks()[:1])
    config = config_from_dict(LoraTrainConfig, {**fields, "resume": True})
    result = train_lora(config, base_model=base, tokenizer=tokenizer, tasks=tiny_tasks()[:2])
    assert sorted(result.adapter_dirs) == ["say_no", "say_yes"] and list(result.runs) == ["say_no"]


def test_multitask_lora_trains_one_adapter_on_all_tasks(tmp_path):
    base, tokenizer = tiny_base()
    config = config_from_dict(
        LoraTrainConfig, run_fields(tmp_path, max_steps=10, learning_rate=1e-2, mode="multitask")
    )
    result = train_lora(config, base_model=base, tokenizer=tokenizer, tasks=tiny_tasks())
    run = result.runs["multitask"]
    assert run.summary["tasks"] == ["say_yes", "say_no", "say_maybe"]
    assert sum(run.losses[-3:]) < sum(run.losses[:3])
    assert (result.adapter_dirs["multitask"] / "adapter_model.safetensors").exists()


def test_multitask_lora_continues_from_a_saved_adapter(tmp_path):
    base, tokenizer = tiny_base()
    fields = run_fields(tmp_path / "first", max_steps=4, learning_rate=1e-2, mode="multitask")
    first = train_lora(
        config_from_dict(LoraTrainConfig, fields), base_model=base, tokenizer=tokenizer, tasks=tiny_tasks()
    )
    start = first.adapter_dirs["multitask"]
    more = {
        **run_fields(tmp_path / "second", max_steps=6, learning_rate=1e-2, mode="multitask", lora_dropout=0.25),
        "init_from": str(start),
    }
    second = train_lora(
        config_from_dict(LoraTrainConfig, more), base_model=base, tokenizer=tokenizer, tasks=tiny_tasks()
    )
    # the continuation starts where the first run ended, not from a fresh LoRA (whose first loss equals the base's)
    assert second.runs["multitask"].losses[0] < first.runs["multitask"].losses[0]
    # dropout is a setting of the run, not of the adapter: the continuation trains (and saves) the configured one
    saved = json.loads((second.adapter_dirs["multitask"] / "adapter_config.json").read_text())
    assert saved["lora_dropout"] == 0.25
    assert not any("lora" in n for n, _ in base.named_modules())


def test_lora_init_from_must_match_the_configured_shape(tmp_path):
    base, tokenizer = tiny_base()
    fields = run_fields(tmp_path / "first", max_steps=1, mode="multitask", lora_rank=4)
    start = train_lora(
        config_from_dict(LoraTrainConfig, fields), base_model=base, tokenizer=tokenizer, tasks=tiny_tasks()
    ).adapter_dirs["multitask"]
    bad = {**run_fields(tmp_path / "b", max_steps=1, mode="multitask", lora_rank=8), "init_from": str(start)}
    with pytest.raises(ValueError, match=r"has r=4 but lora_rank=8; set lora_rank=4"):
        train_lora(config_from_dict(LoraTrainConfig, bad), base_model=base, tokenizer=tokenizer, tasks=tiny_tasks())
    missing = {**bad, "init_from": str(tmp_path)}
    with pytest.raises(ValueError, match="is not a PEFT adapter folder"):
        train_lora(
            config_from_dict(LoraTrainConfig, missing), base_model=base, tokenizer=tokenizer, tasks=tiny_tasks()
        )
