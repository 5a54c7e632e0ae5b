"""The `t2l` command line: generate, info, and clear errors with exit code 2."""

import json
import shutil
import subprocess
import sys

import pytest
import torch
from conftest import make_tiny_llama

from peft_t2l import T2LModel
from peft_t2l.cli import main


@pytest.fixture(scope="module")
def t2l_dir(tmp_path_factory):
    """A tiny T2L that reads descriptions with the real (offline) all-MiniLM-L6-v2."""
    torch.manual_seed(0)
    model = T2LModel.from_base_model(make_tiny_llama(), latent_size=32, head_in_size=48)
    path = tmp_path_factory.mktemp("t2l")
    model.save_pretrained(path)
    return path


@pytest.mark.real
def test_generate_then_info(t2l_dir, tmp_path, capsys):
    out = tmp_path / "adapter"
    assert main(["generate", "classify movie reviews", "--model", str(t2l_dir), "--out", str(out)]) == 0
    assert json.loads((out / "adapter_config.json").read_text())["peft_type"] == "LORA"
    assert "Wrote a rank-8 LoRA" in capsys.readouterr().out
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "PEFT adapter (LORA)" in text and "description: classify movie reviews" in text
    assert main(["info", str(t2l_dir)]) == 0
    assert "T2L hypernetwork (M head)" in capsys.readouterr().out


def test_generate_refuses_to_overwrite(t2l_dir, tmp_path, capsys):
    out = tmp_path / "adapter"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["generate", "x", "--model", str(t2l_dir), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["generate", "   ", "--model", "{t2l}", "--out", "{tmp}/a"], "is empty; describe the task"),
        (["generate", "x", "--model", "{tmp}/missing", "--out", "{tmp}/a"], "missing does not exist"),
        (["info", "{tmp}/missing"], "is not a folder"),
        (["info", "{tmp}"], "neither adapter_config.json nor config.json"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(t2l_dir, tmp_path, capsys, argv, match):
    argv = [a.format(t2l=t2l_dir, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err


@pytest.mark.real
def test_info_on_a_truncated_adapter(t2l_dir, tmp_path, capsys):
    out = tmp_path / "adapter"
    assert main(["generate", "x", "--model", str(t2l_dir), "--out", str(out)]) == 0
    weights = out / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:50])
    assert main(["info", str(out)]) == 2
    assert "corrupt or truncated" in capsys.readouterr().err


def test_info_on_a_truncated_t2l_model(t2l_dir, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(t2l_dir, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:64])
    assert main(["info", str(broken)]) == 2
    assert "corrupt or truncated" in capsys.readouterr().err


def test_console_script_help():
    exe = shutil.which("t2l") or None
    cmd = [exe, "--help"] if exe else [sys.executable, "-m", "peft_t2l.cli", "--help"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0 and "generate" in proc.stdout and "info" in proc.stdout
    proc = subprocess.run(cmd[:-1] + ["frobnicate"], capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_measured_strengths_names_the_families_with_the_largest_gains():
    from peft_t2l.cli import measured_strengths

    tasks = {
        "t_small": {"t2l": 12.0, "base": 10.0, "categories": ["Sentiment Analysis"]},
        "t_big": {"t2l": 60.0, "base": 5.0, "categories": ["Textual Entailment"]},
        "t_worse": {"t2l": 4.0, "base": 14.6, "categories": []},
        "t_tie": {"t2l": 9.0, "base": 10.0, "categories": ["Misc."]},
    }
    line = measured_strengths({"unseen_tasks": tasks}, top=2)
    assert line.index("Textual Entailment (t_big 60.0 vs 5.0)") < line.index("Sentiment Analysis (t_small")
    assert "below base at t_worse (4.0 vs 14.6)" in line
    assert "Misc." not in line  # neither a gain nor more than 3 points below the base
    assert measured_strengths({"regime": "sft"}) is None and measured_strengths(None) is None
    only_losses = {"t": {"t2l": 1.0, "base": 9.0, "categories": ["QA"]}}
    assert "no gain over the base model" in measured_strengths({"unseen_tasks": only_losses})
