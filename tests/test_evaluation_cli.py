"""`t2l eval`: exit code 2 with a clear message on bad input, and one end-to-end run on tiny models."""

import json

import pytest
import torch
from test_evaluation import TINY_SMOL
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from peft_t2l import T2LModel
from peft_t2l.cli import main
from peft_t2l.defaults import DEFAULT_ENCODER, offline_base_model_path, offline_encoder_path


def write_task(folder, name, pairs, descriptions):
    data = {"task": name, "descriptions": descriptions, "instances": [{"input": i, "output": [o]} for i, o in pairs]}
    (folder / f"{name}.json").write_text(json.dumps(data))


@pytest.fixture
def tasks(tmp_path):
    folder = tmp_path / "tasks"
    folder.mkdir()
    write_task(folder, "task_even", [(f"Is {n} even?", "yes" if n % 2 == 0 else "no") for n in range(6)], ["Parity."])
    write_task(folder, "task_reverse", [("Reverse: abc", "cba"), ("Reverse: dog", "god")], ["Reverse the word."])
    return folder


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "no system to evaluate"),
        (["--t2l", "sft"], "is not NAME=DIR"),
        (["--t2l", "sft=/no/such/folder"], "has no config.json"),
        (["--multitask-lora", "/no/such/folder"], "has no adapter_config.json"),
        (["--oracle-dir", "/no/such/folder"], "is not a folder"),
        (["--base-with-description", "--descriptions", "heldout"], "--holdout N"),
        (["--base", "--batch-size", "0"], "batch_size"),
        (["--base", "--holdout", "-1"], "--holdout -1"),
        (["--base", "--task-names", "task_missing"], "task_missing"),
    ],
)
def test_bad_input_exits_2_with_a_message(tasks, tmp_path, capsys, extra, message):
    code = main(["eval", "--tasks", str(tasks), "--out", str(tmp_path / "out"), *extra])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("t2l eval: error: ") and message in err
    assert not (tmp_path / "out").exists()


def test_bad_tasks_path_and_bad_choice(tmp_path, capsys):
    assert main(["eval", "--tasks", str(tmp_path / "nothing"), "--base", "--out", str(tmp_path / "o")]) == 2
    assert "neither a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # argparse's own usage error
        main(["eval", "--tasks", str(tmp_path), "--base", "--descriptions", "bogus", "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2


def test_eval_end_to_end_on_tiny_models(tasks, tmp_path, capsys):
    smol, encoder = offline_base_model_path(), offline_encoder_path()
    if smol is None or encoder is None:
        pytest.skip("the offline SmolLM2 tokenizer or MiniLM encoder package is not installed")
    torch.manual_seed(0)
    base = LlamaForCausalLM(LlamaConfig(**TINY_SMOL))
    base.save_pretrained(tmp_path / "base")
    AutoTokenizer.from_pretrained(str(smol)).save_pretrained(tmp_path / "base")
    t2l = T2LModel.from_base_model(base, latent_size=16, head_in_size=16, encoder_name_or_path=DEFAULT_ENCODER)
    t2l.save_pretrained(tmp_path / "t2l")
    out = tmp_path / "out"
    argv = ["eval", "--tasks", str(tasks), "--base-model", str(tmp_path / "base"), "--base", "--base-with-description",
            "--t2l", f"tiny={tmp_path / 't2l'}", "--descriptions", "train", "random", "--max-new-tokens", "3",
            "--batch-size", "4", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    data = json.loads((out / "results.json").read_text())
    assert list(data["results"]) == [
        "base",
        "base+description@train",
        "base+description@random",
        "t2l:tiny@train",
        "t2l:tiny@random",
    ]
    assert data["tasks"]["task_even"]["labels"] == ["no", "yes"]
    assert data["command"].startswith("t2l eval --tasks ")
    assert (out / "scores.png").stat().st_size > 0
    assert "| **mean** |" in capsys.readouterr().out
