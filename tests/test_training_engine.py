"""The engine: atomic checkpoints, exact resume after SIGKILL, metrics and summary."""

from __future__ import annotations

import json
import signal

import pytest
import torch
from conftest import make_tiny_t2l
from safetensors.torch import load_file
from test_training_helpers import run_runner, tiny_base, tiny_tasks, write_run_files

from peft_t2l.training import checkpoint as ckpt
from peft_t2l.training.checkpoint import list_checkpoints
from peft_t2l.training.config import SFTConfig, load_config


@pytest.fixture(scope="module")
def run_files(tmp_path_factory):
    return write_run_files(tmp_path_factory.mktemp("engine"))


def test_resume_after_sigkill_matches_uninterrupted_run(run_files):
    straight = run_runner(run_files, f"output_dir={run_files / 'straight'}")
    assert straight.returncode == 0, straight.stderr[-2000:]

    out = run_files / "killed"
    killed = run_runner(run_files, f"output_dir={out}", kill_at=5)
    assert killed.returncode == -signal.SIGKILL
    assert [p.name for p in list_checkpoints(out)] == ["step-000003"]  # step 5 died between checkpoints
    assert not (out / "model").exists()

    resumed = run_runner(run_files, f"output_dir={out}", "resume=true")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stdout + resumed.stderr

    want = load_file(run_files / "straight" / "model" / "model.safetensors")
    got = load_file(out / "model" / "model.safetensors")
    assert want.keys() == got.keys()
    for key in want:
        assert torch.equal(want[key], got[key]), key
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9))  # lines of the killed steps 4-5 were replaced, not duplicated
    init = load_file(run_files / "t2l_init" / "model.safetensors")
    assert any(not torch.equal(init[k], got[k]) for k in got)  # it did train


def test_killed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    base, tokenizer = tiny_base()
    t2l = make_tiny_t2l(base)
    config = load_config(
        SFTConfig,
        overrides=[f"output_dir={tmp_path}", "max_steps=4", "warmup_steps=0", "save_every=2", "progress=false",
                   "cpu=true", "tasks_per_batch=2", "examples_per_task=1", "max_prompt_length=32"],
    )  # fmt: skip
    from peft_t2l.training.sft import train_sft

    real_save_file = ckpt.save_file

    def dies_on_step_4(tensors, path):
        if ".tmp-step-000004" in str(path) and path.name == "optimizer.safetensors":
            raise KeyboardInterrupt("killed mid-write")
        real_save_file(tensors, path)

    monkeypatch.setattr(ckpt, "save_file", dies_on_step_4)
    with pytest.raises(KeyboardInterrupt):
        train_sft(config, base_model=base, tokenizer=tokenizer, t2l_model=t2l, tasks=tiny_tasks())
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000002"]
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".tmp")]
    assert (list_checkpoints(tmp_path)[0] / "model.safetensors").exists()


def test_metrics_and_summary_are_written(tmp_path):
    base, tokenizer = tiny_base()
    config = load_config(
        SFTConfig,
        overrides=[f"output_dir={tmp_path}", "max_steps=4", "warmup_steps=1", "log_every=2", "progress=false",
                   "cpu=true", "tasks_per_batch=2", "examples_per_task=2", "max_prompt_length=32",
                   "gradient_accumulation_steps=2"],
    )  # fmt: skip
    from peft_t2l.training.sft import train_sft

    result = train_sft(config, base_model=base, tokenizer=tokenizer, t2l_model=make_tiny_t2l(base), tasks=tiny_tasks())
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4]
    assert {"loss", "lr", "tokens_per_s", "ce", "l2_generated", "grad_norm"} <= rows[0].keys()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["tokens"] == result.train.state.tokens > 0
    assert result.train.state.micro_batches == 8  # 2 micro-batches per step
    assert summary["config"]["gradient_accumulation_steps"] == 2


def test_a_fresh_run_refuses_an_output_dir_with_checkpoints(tmp_path):
    base, tokenizer = tiny_base()
    overrides = [f"output_dir={tmp_path}", "max_steps=2", "warmup_steps=0", "progress=false", "cpu=true",
                 "tasks_per_batch=2", "examples_per_task=1", "max_prompt_length=32"]  # fmt: skip
    from peft_t2l.training.sft import train_sft

    train_sft(load_config(SFTConfig, overrides=overrides), base_model=base, tokenizer=tokenizer,
              t2l_model=make_tiny_t2l(base), tasks=tiny_tasks())  # fmt: skip
    with pytest.raises(ValueError, match="resume=true"):
        train_sft(load_config(SFTConfig, overrides=overrides), base_model=base, tokenizer=tokenizer,
                  t2l_model=make_tiny_t2l(base), tasks=tiny_tasks())  # fmt: skip
    more = load_config(SFTConfig, overrides=[*overrides, "max_steps=3", "resume=true"])
    result = train_sft(more, base_model=base, tokenizer=tokenizer, t2l_model=make_tiny_t2l(base), tasks=tiny_tasks())
    assert result.train.state.step == 3 and len(result.train.losses) == 1  # continued from step 2


def test_max_minutes_stops_with_a_checkpoint_and_a_model_and_resume_finishes(tmp_path):
    base, tokenizer = tiny_base()
    overrides = [f"output_dir={tmp_path}", "max_steps=4", "warmup_steps=0", "progress=false", "cpu=true",
                 "save_every=100", "tasks_per_batch=2", "examples_per_task=1", "max_prompt_length=32"]  # fmt: skip
    from peft_t2l.training.sft import train_sft

    boxed = load_config(SFTConfig, overrides=[*overrides, "max_minutes=1e-9"])  # out of time after the first step
    result = train_sft(boxed, base_model=base, tokenizer=tokenizer, t2l_model=make_tiny_t2l(base), tasks=tiny_tasks())
    assert result.train.state.step == 1
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000001"]  # saved although save_every=100
    assert (tmp_path / "model" / "model.safetensors").exists()
    assert "max_minutes" in json.loads((tmp_path / "summary.json").read_text())["stopped_early"]

    more = load_config(SFTConfig, overrides=[*overrides, "resume=true"])
    result = train_sft(more, base_model=base, tokenizer=tokenizer, t2l_model=make_tiny_t2l(base), tasks=tiny_tasks())
    assert result.train.state.step == 4 and len(result.train.losses) == 3
    assert "stopped_early" not in json.loads((tmp_path / "summary.json").read_text())


def test_max_minutes_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match=r"SFTConfig.max_minutes=0.0 is invalid: use a positive number"):
        load_config(SFTConfig, overrides=[f"output_dir={tmp_path}", "max_minutes=0"])
