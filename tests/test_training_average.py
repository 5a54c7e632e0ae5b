"""`average_models` / `t2l train average`: the weighted mean of saved T2L models of one architecture."""

import pytest
import torch
from conftest import HashEncoder, make_tiny_llama, make_tiny_t2l

from peft_t2l import T2LModel
from peft_t2l.cli import main
from peft_t2l.training import average_models
from peft_t2l.training.average import normalised_weights


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Two tiny T2L models of one architecture with different weights and training records, and a third of another."""
    root = tmp_path_factory.mktemp("models")
    base = make_tiny_llama()
    folders = {}
    for name, seed, latent in (("a", 1, 32), ("b", 2, 32), ("wide", 3, 40)):
        model = make_tiny_t2l(base, seed=seed, latent_size=latent)
        model.config.training_summary = {
            "regime": "sft",
            "steps": seed * 100,
            "tasks": [f"task{seed}"],
            "training_config": {"seed": seed, "learning_rate": 2e-4},
        }
        model.save_pretrained(root / name)
        folders[name] = root / name
    return folders


def test_weighted_mean_of_every_tensor(saved):
    a, b = (T2LModel.from_pretrained(saved[k]).state_dict() for k in "ab")
    soup = average_models([saved["a"], saved["b"]], weights=[1, 3])
    state = soup.state_dict()
    assert state.keys() == a.keys()
    differs = 0
    for key, value in state.items():
        torch.testing.assert_close(value, 0.25 * a[key] + 0.75 * b[key])
        differs += not torch.equal(a[key], b[key])
    assert differs > 0  # the two models really differ, so the check above could fail
    record = soup.config.training_summary
    assert record["regime"] == "weight average" and record["tasks"] == ["task1"]  # the first model's task record
    assert [(s["weight"], s["steps"]) for s in record["averaged"]] == [(0.25, 100), (0.75, 200)]
    assert [s["training_config"]["seed"] for s in record["averaged"]] == [1, 2]  # how each part was trained


def test_equal_weights_by_default_and_generates_adapters(saved):
    soup = average_models([saved["a"], saved["b"]])
    assert [s["weight"] for s in soup.config.training_summary["averaged"]] == [0.5, 0.5]
    soup.set_text_encoder(HashEncoder(soup.config.task_emb_size))
    lora = soup.generate_lora("classify the sentiment of a review")
    assert all(torch.isfinite(t).all() for t in lora.state_dict.values())


@pytest.mark.parametrize(
    ("weights", "match"),
    [([1.0], "1 weights for 2 models"), ([1.0, -1.0], "non-negative"), ([0.0, 0.0], "not all zero"),
     ([float("nan"), 1.0], "finite")],
)  # fmt: skip
def test_bad_weights_are_named(weights, match):
    with pytest.raises(ValueError, match=match):
        normalised_weights(weights, 2)


def test_refuses_one_model_and_other_architectures(saved):
    with pytest.raises(ValueError, match="at least two"):
        average_models([saved["a"]])
    with pytest.raises(ValueError, match=r"latent_size=40 but .* latent_size=32"):
        average_models([saved["a"], saved["wide"]])


def test_cli_writes_the_soup_and_refuses_bad_input_before_loading(saved, tmp_path, capsys):
    out = tmp_path / "soup"
    assert main(["train", "average", str(saved["a"]), str(saved["b"]), "--out", str(out)]) == 0
    torch.testing.assert_close(
        T2LModel.from_pretrained(out).state_dict(), average_models([saved["a"], saved["b"]]).state_dict()
    )
    card = (out / "README.md").read_text()  # the card says how it was made
    assert "**regime**: weight average" in card and f"0.5 x `{saved['b']}` (sft, 200 steps)" in card
    assert f"training config of `{saved['b']}`" in card and "seed: 2" in card
    capsys.readouterr()
    assert main(["info", str(out)]) == 0  # one line per part, not the parts' whole configs
    info = capsys.readouterr().out
    assert f"averaged: 0.5 x `{saved['a']}` (sft, 100 steps), 0.5 x" in info and "learning_rate" not in info

    keep = tmp_path / "notes"
    keep.mkdir()
    (keep / "mine.txt").write_text("not a model")
    assert main(["train", "average", str(saved["a"]), str(saved["b"]), "--out", str(keep), "--overwrite"]) == 2
    assert (keep / "mine.txt").read_text() == "not a model"  # nothing lost
    bad = tmp_path / "bad"
    assert main(["train", "average", str(saved["a"]), str(saved["b"]), "--weights", "1", "--out", str(bad)]) == 2
    assert main(["train", "average", str(saved["a"]), str(tmp_path / "missing"), "--out", str(bad)]) == 2
    checkpoint = tmp_path / "run" / "checkpoints" / "step-000025"  # what the trainer writes beside model/
    checkpoint.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "optimizer.safetensors", "state.json"):
        (checkpoint / name).write_text("{}")
    assert main(["train", "average", str(saved["a"]), str(checkpoint), "--out", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "1 weights for 2 models" in err and "missing' is not a folder" in err and "is a training checkpoint" in err
    assert not bad.exists()
