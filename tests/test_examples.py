"""The examples run end to end on the real offline SmolLM2 + MiniLM, so they never rot.

They use an untrained T2L built for SmolLM2 (the embedded default is used when the examples run without --model).
"""

import subprocess
import sys
from pathlib import Path

import pytest

from peft_t2l import DEFAULT_BASE_MODEL, T2LModel

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.real, pytest.mark.slow]  # each example is a fresh Python process on the real models


@pytest.fixture(scope="module")
def smol_t2l(tmp_path_factory):
    path = tmp_path_factory.mktemp("smol-t2l")
    T2LModel.from_base_model(DEFAULT_BASE_MODEL, head="M").save_pretrained(path)
    return path


def run(script: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *args], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_quickstart(smol_t2l):
    out = run("quickstart.py", "--model", str(smol_t2l), "--max-new-tokens", "8")
    assert "base model  :" in out and "with adapter:" in out and "GeneratedLoRA(" in out


def test_peft_route(smol_t2l, tmp_path):
    out = run("peft_route.py", "--model", str(smol_t2l), "--out", str(tmp_path / "adapter"))
    assert "stock PEFT reloads it with identical logits: True" in out
    assert (tmp_path / "adapter" / "adapter_config.json").exists()


def test_many_descriptions(smol_t2l):
    out = run("many_descriptions.py", "--model", str(smol_t2l), "--max-new-tokens", "4")
    assert out.count("->") == 3
