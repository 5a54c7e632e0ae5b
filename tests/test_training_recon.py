"""Reconstruction: the error on a LoRA library falls, z-scoring lives in the output affine buffers, per-task report."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import make_tiny_t2l
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file
from test_training_helpers import run_fields, tiny_base, tiny_tasks

from peft_t2l.training.config import ReconConfig, config_from_dict
from peft_t2l.training.recon import LoraLibrary, train_recon

NAMES = ["say_maybe", "say_no", "say_yes"]  # library folders are read in sorted order


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is faster here


@pytest.fixture
def library(tmp_path):
    """Three random rank-8 LoRAs (alpha 8: a different scaling from the T2L default of 16 / 8)."""
    base, _ = tiny_base()
    root = tmp_path / "library"
    for i, name in enumerate(NAMES):
        torch.manual_seed(100 + i)
        peft_model = get_peft_model(base, LoraConfig(r=8, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
        with torch.no_grad():
            for n, p in peft_model.named_parameters():
                if "lora_" in n:
                    p.normal_(0.0, 0.2)
        peft_model.save_pretrained(root / name)
        base = peft_model.unload()
    return base, root


def test_library_loads_in_t2l_layout_with_rescaled_b(library):
    base, root = library
    t2l = make_tiny_t2l(base)
    lib = LoraLibrary.load(root, t2l.config)
    assert lib.task_names == NAMES
    assert lib.lora_A["q_proj"].shape == (3, 2, 8, 32) and lib.lora_B["v_proj"].shape == (3, 2, 16, 8)
    # alpha 8 vs 16 at rank 8: B is halved so that deltaW = scaling * B @ A is unchanged
    weights = load_file(root / "say_no" / "adapter_model.safetensors")
    b = weights["base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight"]
    torch.testing.assert_close(lib.lora_B["q_proj"][1, 1], b * 0.5)


def test_recon_error_falls_with_z_scored_targets(library, tmp_path):
    base, root = library
    t2l = make_tiny_t2l(base, use_output_affine=True, dropout=0.0)
    fields = run_fields(tmp_path, with_data=False, max_steps=60, learning_rate=1e-2, library=str(root), data="unused")
    result = train_recon(config_from_dict(ReconConfig, fields), t2l_model=t2l, tasks=tiny_tasks())

    lib = LoraLibrary.load(root, t2l.config)
    torch.testing.assert_close(t2l.output_shift_A_q_proj, lib.lora_A["q_proj"].mean(0))
    torch.testing.assert_close(t2l.output_scale_B_v_proj, lib.lora_B["v_proj"].std(0, unbiased=False))
    report = json.loads((tmp_path / "run" / "recon_errors.json").read_text())
    assert sorted(report["after"]) == NAMES
    for name in NAMES:
        assert report["after"][name]["l1"] < 0.7 * report["before"][name]["l1"], name
    assert result.train.losses[-1] < 0.5 * result.train.losses[0]
    assert t2l.config.training_summary["regime"] == "reconstruction"


def test_recon_one_hot_on_delta_w(library, tmp_path):
    base, root = library
    t2l = make_tiny_t2l(base, encoder_type="one_hot", task_names=NAMES, task_emb_size=3, dropout=0.0)
    t2l.set_text_encoder(None)  # one-hot ids come from the config's task names
    fields = run_fields(
        tmp_path, with_data=False, max_steps=40, learning_rate=1e-2, library=str(root), encoder_type="one_hot",
        loss_on="delta_w", normalize=False,
    )  # fmt: skip
    result = train_recon(config_from_dict(ReconConfig, fields), t2l_model=t2l)
    assert (
        result.train.summary["recon_error_after"]["rel_delta_w"]
        < result.train.summary["recon_error_before"]["rel_delta_w"]
    )
    assert result.train.losses[-1] < result.train.losses[0]


def test_recon_config_errors(library, tmp_path):
    base, root = library
    with pytest.raises(ValueError, match="normalize"):
        config_from_dict(ReconConfig, {"output_dir": "x", "library": "y", "loss_on": "delta_w", "data": "z"})
    with pytest.raises(ValueError, match="ReconConfig.data"):
        config_from_dict(ReconConfig, {"output_dir": "x", "library": "y"})
    fields = run_fields(tmp_path, with_data=False, max_steps=1, library=str(root), data="unused")
    with pytest.raises(ValueError, match="use_output_affine"):
        train_recon(config_from_dict(ReconConfig, fields), t2l_model=make_tiny_t2l(base), tasks=tiny_tasks())
    with pytest.raises(ValueError, match="train them first"):
        train_recon(config_from_dict(ReconConfig, {**fields, "library": str(tmp_path / "empty")}))
    with pytest.raises(ValueError, match="rank 8"):
        train_recon(
            config_from_dict(ReconConfig, {**fields, "normalize": False}),
            t2l_model=make_tiny_t2l(base, lora_rank=4),
            tasks=tiny_tasks(),
        )
