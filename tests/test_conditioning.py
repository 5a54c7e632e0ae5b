"""Conditioning as a measured quantity: the control description modes, per-instance scores, and the own-minus-control
gap with its paired bootstrap interval, computed on reports built by hand (exact numbers) and by the harness."""

from dataclasses import asdict

import pytest
import torch
from conftest import make_tiny_t2l
from test_evaluation import CHOICE, FREE, tiny_smol, tokenizer  # noqa: F401 (fixture)

from peft_t2l.evaluation import (
    UNINFORMATIVE,
    UNRELATED_DESCRIPTIONS,
    EvalConfig,
    EvalReport,
    SystemSpec,
    TaskResult,
    conditioning_gaps,
    evaluate,
    paired_gap,
    select_descriptions,
)
from peft_t2l.evaluation.cli import EvalOptions
from peft_t2l.evaluation.harness import TaskInfo
from peft_t2l.evaluation.reports import markdown_tables


def _result(scores: list[float]) -> TaskResult:
    return TaskResult(rouge_l=sum(scores) / len(scores), exact_match=0.0, instance_rouge_l=scores)


def _report(columns: dict[str, tuple[dict, dict[str, list[float]]]]) -> EvalReport:
    tasks = {t for _, per_task in columns.values() for t in per_task}
    return EvalReport(
        config=asdict(EvalConfig()),
        tasks={t: TaskInfo(4, 8, None) for t in sorted(tasks)},
        systems={name: spec for name, (spec, _) in columns.items()},
        results={name: {t: _result(s) for t, s in per_task.items()} for name, (_, per_task) in columns.items()},
    )


def _t2l(mode: str, source: str = "runs/a") -> dict:
    return {"kind": "t2l", "source": source, "descriptions": mode}


def test_paired_gap_is_the_mean_of_task_means_with_an_interval_around_it():
    report = _report(
        {
            "own": (_t2l("train"), {"t1": [50.0, 60.0, 70.0, 80.0], "t2": [10.0, 10.0, 10.0, 10.0]}),
            "ctl": (_t2l("random"), {"t1": [40.0, 40.0, 40.0, 40.0], "t2": [10.0, 0.0, 10.0, 0.0]}),
        }
    )
    gap = paired_gap(report, "own", "ctl")
    assert gap.per_task["t1"].value == 25.0 and gap.per_task["t2"].value == 5.0
    assert gap.mean.value == 15.0  # tasks weigh the same, whatever their instance counts
    assert gap.mean.low <= 15.0 <= gap.mean.high and gap.mean.low > 0  # every instance is ahead or tied
    assert gap.per_task["t2"].low == 0.0 and gap.per_task["t2"].high == 10.0  # differences 0 or 10
    assert gap.tasks_ahead == 2
    assert paired_gap(report, "own", "ctl") == gap  # seeded: the same interval every time
    same = paired_gap(report, "own", "own")
    assert (same.mean.value, same.mean.low, same.mean.high) == (0.0, 0.0, 0.0)
    reverse = paired_gap(report, "ctl", "own")
    assert reverse.mean.value == -15.0 and reverse.mean.high < 0


def test_paired_gap_interval_covers_zero_when_the_sign_is_noise():
    own = [float(v) for v in range(0, 100, 5)]
    ctl = own[::-1]  # the same scores, paired in reverse: mean gap 0, differences spread wide
    report = _report({"own": (_t2l("train"), {"t": own}), "ctl": (_t2l("random"), {"t": ctl})})
    gap = paired_gap(report, "own", "ctl")
    assert gap.mean.value == 0.0 and gap.mean.low < 0 < gap.mean.high


def test_paired_gap_errors_and_reports_without_instance_scores():
    report = _report({"own": (_t2l("train"), {"t": [1.0]}), "ctl": (_t2l("random"), {"t": [0.0]})})
    with pytest.raises(ValueError, match="'missing' is not a system"):
        paired_gap(report, "own", "missing")
    with pytest.raises(ValueError, match="confidence=1.5"):
        paired_gap(report, "own", "ctl", confidence=1.5)
    report.results["ctl"]["t"].instance_rouge_l = []  # a report written before per-instance scores existed
    assert paired_gap(report, "own", "ctl") is None


def test_conditioning_gaps_pair_each_model_with_its_own_controls_and_lead_the_report():
    report = _report(
        {
            "base": ({"kind": "base", "source": None, "descriptions": None}, {"t": [0.0, 0.0]}),
            "a@train": (_t2l("train", "runs/a"), {"t": [50.0, 70.0]}),
            "a@random": (_t2l("random", "runs/a"), {"t": [20.0, 30.0]}),
            "a@uninformative": (_t2l("uninformative", "runs/a"), {"t": [40.0, 40.0]}),
            "b@train": (_t2l("train", "runs/b"), {"t": [10.0, 10.0]}),
            "b@unrelated": (_t2l("unrelated", "runs/b"), {"t": [20.0, 20.0]}),
        }
    )
    pairs = {(g.system, g.reference): g.mean.value for g in conditioning_gaps(report)}
    assert pairs == {
        ("a@train", "a@random"): 35.0,
        ("a@train", "a@uninformative"): 20.0,
        ("a@train", "base"): 60.0,
        ("b@train", "b@unrelated"): -10.0,
        ("b@train", "base"): 10.0,
    }
    markdown = markdown_tables(report)
    lead = markdown.index("## Conditioning: own description minus controls")
    assert lead < markdown.index("## ROUGE-L")
    assert "| a@train | a@random | **+35.0 [" in markdown


def test_control_description_modes():
    chosen = select_descriptions([CHOICE, FREE], "unrelated", count=2)
    assert chosen == {CHOICE.name: list(UNRELATED_DESCRIPTIONS[:2]), FREE.name: list(UNRELATED_DESCRIPTIONS[:2])}
    assert select_descriptions([CHOICE], "uninformative", count=3) == {CHOICE.name: [UNINFORMATIVE]}
    with pytest.raises(ValueError, match="'uninformative'"):
        SystemSpec("base+description", descriptions="uninformative")
    with pytest.raises(ValueError, match="num_descriptions=0"):
        SystemSpec("t2l", source="x", descriptions="random", num_descriptions=0)


def test_eval_options_give_controls_their_own_description_count(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    specs = EvalOptions(
        tasks="x", base_with_description=True, t2l=[f"a={tmp_path}"],
        descriptions=["train", "random", "uninformative"], control_descriptions=1,
    ).systems()  # fmt: skip
    counts = {s.name: s.num_descriptions for s in specs}
    assert counts == {
        "base+description@train": None,
        "base+description@random": 1,  # no base+description@uninformative: that is the base system
        "t2l:a@train": None,
        "t2l:a@random": 1,
        "t2l:a@uninformative": None,
    }
    with pytest.raises(ValueError, match="--control-descriptions 0"):
        EvalOptions(tasks="x", base=True, control_descriptions=0).systems()


@pytest.mark.real
def test_harness_scores_the_zero_embedding_adapter_and_stores_instance_scores(tokenizer, monkeypatch):  # noqa: F811
    model = tiny_smol()
    t2l = make_tiny_t2l(model, task_emb_size=16)
    seen = []
    original = type(t2l).generate_lora

    def spy(self, descriptions, **kwargs):
        seen.append((list(descriptions), kwargs.get("task_embeddings")))
        return original(self, descriptions, **kwargs)

    monkeypatch.setattr(type(t2l), "generate_lora", spy)
    systems = [
        SystemSpec("t2l", name="own", source=t2l, descriptions="train"),
        SystemSpec("t2l", name="zero", source=t2l, descriptions="uninformative"),
        SystemSpec("t2l", name="unrelated", source=t2l, descriptions="unrelated", num_descriptions=1),
    ]
    config = EvalConfig(max_new_tokens=4, batch_size=2, num_descriptions=2)
    report = evaluate(systems, [CHOICE, FREE], model=model, tokenizer=tokenizer, config=config, log=None)
    assert report.results["zero"][FREE.name].descriptions == [UNINFORMATIVE]
    assert report.results["unrelated"][FREE.name].descriptions == [UNRELATED_DESCRIPTIONS[0]]
    assert report.results["own"][FREE.name].descriptions == list(FREE.descriptions[:2])
    # the uninformative adapter comes from the zero task embedding, not from encoding its label
    zero_calls = [emb for descriptions, emb in seen if descriptions == [UNINFORMATIVE]]
    assert len(zero_calls) == 1 and torch.equal(zero_calls[0], torch.zeros(1, t2l.config.task_emb_size))
    for name, per_task in report.results.items():
        for task, result in per_task.items():
            assert len(result.instance_rouge_l) == report.tasks[task].num_instances, (name, task)
            mean = sum(result.instance_rouge_l) / len(result.instance_rouge_l)
            assert mean == pytest.approx(result.rouge_l, abs=0.01), (name, task)
