"""`t2l eval` and `t2l eval-merge`: exit code 2 with a clear message on bad input, end-to-end runs on tiny models."""

import json

import pytest
import torch
from test_evaluation import TINY_SMOL
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from peft_t2l import T2LModel
from peft_t2l.cli import main
from peft_t2l.defaults import DEFAULT_ENCODER, offline_base_model_path, offline_encoder_path
from peft_t2l.evaluation import EvalConfig, write_report
from peft_t2l.evaluation.harness import EvalReport, TaskInfo, TaskResult


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


@pytest.mark.real
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


# ---- t2l eval-merge --------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_base(tmp_path):
    """A saved 1.6M-parameter Llama with SmolLM2's tokenizer: a --base-model folder."""
    smol = offline_base_model_path()
    if smol is None:
        pytest.skip("the offline SmolLM2 tokenizer package is not installed")
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(**TINY_SMOL)).save_pretrained(tmp_path / "base")
    AutoTokenizer.from_pretrained(str(smol)).save_pretrained(tmp_path / "base")
    return tmp_path / "base"


@pytest.mark.real
def test_eval_merge_end_to_end_equals_one_run(tasks, tiny_base, tmp_path, capsys):
    common = ["--tasks", str(tasks), "--base-model", str(tiny_base), "--max-new-tokens", "3", "--batch-size", "4"]
    assert main(["eval", *common, "--base", "--out", str(tmp_path / "a")]) == 0
    assert main(["eval", *common, "--base-with-description", "--out", str(tmp_path / "b")]) == 0
    assert main(["eval", *common, "--base", "--base-with-description", "--out", str(tmp_path / "ab")]) == 0
    capsys.readouterr()
    out = tmp_path / "merged"
    assert main(["eval-merge", "--out", str(out), str(tmp_path / "a"), str(tmp_path / "b")]) == 0

    merged = json.loads((out / "results.json").read_text())
    commands = [json.loads((tmp_path / run / "results.json").read_text())["command"] for run in ("a", "b")]
    assert merged["command"] == commands and all(c.startswith("t2l eval --tasks ") for c in commands)
    together = json.loads((tmp_path / "ab" / "results.json").read_text())
    assert {**merged, "command": None} == {**together, "command": None}  # the same numbers as one run of both
    markdown = (out / "results.md").read_text()
    assert f"```\n{commands[0]}\n{commands[1]}\n```" in markdown
    assert "| task | base | base+description@train |" in markdown
    assert (out / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(json.loads((out / "timing.json").read_text())["seconds_per_system"]) == list(together["results"])
    printed = capsys.readouterr().out
    assert "| **mean** |" in printed and f"wrote {out / 'results.json'}" in printed


def _fake_run(folder, *, batch_size=8, system="base"):
    """A `t2l eval` folder written without a model: one task, one system."""
    report = EvalReport(
        config=vars(EvalConfig(batch_size=batch_size)),
        tasks={"task_x": TaskInfo(num_instances=2, max_new_tokens=5, labels=None)},
        systems={system: {"kind": "base", "source": None, "descriptions": None}},
        results={system: {"task_x": TaskResult(rouge_l=50.0, exact_match=0.0)}},
    )
    write_report(report, folder, command=f"t2l eval --out {folder}")
    return folder


def _merge_sources(tmp, case: str) -> list:
    """SRC_DIR arguments for one bad-input case: a good run first, then the bad part."""
    a = _fake_run(tmp / "a")
    if case == "missing":
        return [a, tmp / "missing"]
    if case == "empty":
        (tmp / "empty").mkdir()
        return [a, tmp / "empty"]
    if case == "one":
        return [a]
    if case == "twice":
        return [a, tmp / "a"]
    if case == "batch":
        return [a, _fake_run(tmp / "b", batch_size=4, system="other")]
    (tmp / "bad").mkdir()
    (tmp / "bad" / "results.json").write_text("[]")
    return [a, tmp / "bad"]


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "missing is not a folder"),
        ("empty", "empty has no results.json"),
        ("one", "pass at least two t2l eval --out folders"),
        ("twice", "is given twice"),
        ("batch", "differ in config['batch_size']: 8 vs 4"),
        ("bad", "is not an evaluation report"),
    ],
)
def test_eval_merge_bad_input_exits_2_with_a_message(tmp_path, capsys, case, message):
    out = tmp_path / "merged"
    code = main(["eval-merge", "--out", str(out), *map(str, _merge_sources(tmp_path, case))])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("t2l eval-merge: error: ") and message in err
    assert not out.exists()


def test_eval_merge_of_fake_runs_lists_both_commands(tmp_path, capsys):
    a, b = _fake_run(tmp_path / "a"), _fake_run(tmp_path / "b", system="other")
    assert main(["eval-merge", "--out", str(tmp_path / "m"), str(a), str(b)]) == 0
    data = json.loads((tmp_path / "m" / "results.json").read_text())
    assert data["command"] == [f"t2l eval --out {a}", f"t2l eval --out {b}"]
    assert list(data["results"]) == ["base", "other"]
    # a merged folder merges again: its commands are flattened into the new list
    c = _fake_run(tmp_path / "c", system="third")
    assert main(["eval-merge", "--out", str(tmp_path / "m2"), str(tmp_path / "m"), str(c)]) == 0
    again = json.loads((tmp_path / "m2" / "results.json").read_text())
    assert again["command"] == [*data["command"], f"t2l eval --out {c}"]


def test_eval_options_round_trip_through_the_command_line():
    from peft_t2l.cli import build_parser
    from peft_t2l.evaluation.cli import EvalOptions

    argv = ["eval", "--tasks", "data/val", "--base", "--t2l", "a=runs/a", "--t2l", "b=runs/b", "--descriptions",
            "train", "random", "--num-descriptions", "3", "--control-descriptions", "1", "--task-names", "t1", "t2",
            "--holdout-instances", "8", "--out", "runs/eval"]  # fmt: skip
    args = build_parser().parse_args(argv)
    options = EvalOptions(**{f: getattr(args, f) for f in EvalOptions.__dataclass_fields__})
    assert options.t2l == ["a=runs/a", "b=runs/b"] and options.task_names == ["t1", "t2"]
    assert (options.num_descriptions, options.control_descriptions, options.holdout_instances) == (3, 1, 8)
    command = options.command_line()
    again = build_parser().parse_args(command.split()[1:])
    assert EvalOptions(**{f: getattr(again, f) for f in EvalOptions.__dataclass_fields__}) == options
    assert options.eval_config().holdout_instances == 8 and options.eval_config().keep_predictions


def test_out_is_checked_before_any_model_loads(tasks, tmp_path, capsys, monkeypatch):
    import peft_t2l.defaults

    monkeypatch.setattr(peft_t2l.defaults, "load_base_model", lambda *a, **k: pytest.fail("a model was loaded"))
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep me")
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.md").write_text("keep me too")
    report = tmp_path / "report"
    report.mkdir()
    (report / "results.json").write_text("{}")
    cases = [
        ([str(a_file)], "is a file"),
        ([str(other)], "exists and is not empty"),
        ([str(other), "--overwrite"], "not a previous evaluation report"),
        ([str(report)], "pass --overwrite"),
    ]
    for out, message in cases:
        assert main(["eval", "--tasks", str(tasks), "--base", "--out", *out]) == 2
        assert message in capsys.readouterr().err, out
    assert a_file.read_text() == "keep me" and (other / "todo.md").read_text() == "keep me too"
