"""The example SFT config end to end on the real models (SmolLM2-135M-Instruct + all-MiniLM-L6-v2, offline) and real
SNI tasks, shrunk to two steps of two rows."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from peft_t2l import T2LModel
from peft_t2l.defaults import offline_base_model_path, offline_encoder_path
from peft_t2l.training.config import SFTConfig, load_config
from peft_t2l.training.sft import train_sft

ROOT = Path(__file__).resolve().parents[1]
SNI_TRAIN = ROOT.parent / "shared" / "data" / "sni" / "train"
TASKS = ["task1418_bless_semantic_relation_classification", "task063_first_i_elements"]

pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(
        offline_base_model_path(convert=False) is None or offline_encoder_path() is None or not SNI_TRAIN.is_dir(),
        reason="needs the offline SmolLM2 copy, the MiniLM package and ../shared/data/sni",
    ),
]


def test_sft_example_config_runs_on_the_real_models(tmp_path):
    config = load_config(
        SFTConfig,
        ROOT / "configs" / "sft_smollm2_sni.yaml",
        [
            f"output_dir={tmp_path}",
            f"data={SNI_TRAIN}",
            f"tasks=[{','.join(TASKS)}]",
            "max_instances_per_task=8",
            "tasks_per_batch=2",
            "examples_per_task=1",
            "max_prompt_length=48",
            "max_response_length=16",
            "max_steps=2",
            "warmup_steps=1",
            "progress=false",
            "cpu=true",
        ],
    )
    result = train_sft(config)
    assert len(result.train.losses) == 2 and all(torch.isfinite(torch.tensor(result.train.losses)))

    model = T2LModel.from_pretrained(result.model_dir)
    summary = model.config.training_summary
    assert summary["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert summary["encoder"]["name_or_path"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert summary["tasks"] == TASKS
    lora = model.generate_lora("Classify how two words are related.")
    lora.save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
