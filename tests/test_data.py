"""Data: the three task sources, chat formatting with response-only labels, explicit truncation, task-mixed batches."""

from __future__ import annotations

import dataclasses
import json
import random
import sys
import types
from pathlib import Path

import pytest
from test_training_helpers import char_tokenizer, tiny_tasks, write_tasks

from peft_t2l.data import (
    IGNORE_INDEX,
    HFTaskColumns,
    Instance,
    Task,
    TaskMixSampler,
    TokenizedTasks,
    collate,
    encode_example,
    load_tasks,
    task_from_hf,
)

SNI = Path(__file__).resolve().parents[2] / "shared" / "data" / "sni"


def test_project_schema_folder_round_trip(tmp_path):
    write_tasks(tmp_path, tiny_tasks())
    (tmp_path / "index.json").write_text("{}")  # the folder's summary is not a task
    tasks = load_tasks(tmp_path, names=["say_no", "say_yes"], max_instances=5)
    assert [t.name for t in tasks] == ["say_no", "say_yes"]
    assert len(tasks[0].instances) == 5 and tasks[0].instances[0] == Instance("item 0", ("no",))
    assert tasks[0].descriptions[0] == "answer no"


def test_eval_descriptions_and_hold_out(tmp_path):
    data = {
        "task": "t1",
        "definition": "Add the numbers.",
        "descriptions": ["add them", "sum the numbers", "compute the total"],
        "eval_descriptions": ["what is the sum"],
        "instances": [{"input": "1 2", "output": ["3", "three"]}],
    }
    (tmp_path / "t1.json").write_text(json.dumps(data))
    (task,) = load_tasks(tmp_path / "t1.json")
    held = task.hold_out_descriptions(2)
    assert held.descriptions == ("add them",)
    assert held.eval_descriptions == ("what is the sum", "sum the numbers", "compute the total")
    assert task.hold_out_descriptions(10).descriptions == ("add them",)  # one always stays for training
    assert task.instances[0].output == "3"


def test_split_instances_holds_out_the_last_ones_and_never_more_than_half():
    task = tiny_tasks()[0]  # 12 instances
    kept, held = task.split_instances(3)
    assert kept.instances == task.instances[:9] and held.instances == task.instances[9:]
    kept, held = task.split_instances(100)  # capped: training keeps at least half
    assert len(kept.instances) == 6 and len(held.instances) == 6
    assert task.split_instances(0) == (task, task)
    one = Task("one", ("d",), (Instance("x", ("y",)),))
    with pytest.raises(ValueError, match="'one' has 1 instance"):
        one.split_instances(2)


def test_training_tasks_leave_the_held_out_instances_out(tmp_path):
    from peft_t2l.training.config import LoraTrainConfig
    from peft_t2l.training.inputs import training_tasks

    write_tasks(tmp_path / "tasks", tiny_tasks())
    config = LoraTrainConfig(output_dir=str(tmp_path / "out"), data=str(tmp_path / "tasks"), num_holdout_instances=4)
    (task, *_) = training_tasks(config, None)
    full = load_tasks(tmp_path / "tasks", names=[task.name])[0]
    assert task.instances == full.instances[:8]
    with pytest.raises(ValueError, match="num_holdout_instances=-1"):
        LoraTrainConfig(output_dir=str(tmp_path / "out"), num_holdout_instances=-1)


def test_raw_sni_task_file(tmp_path):
    raw = {
        "Definition": ["Answer the question with yes or no."],
        "Instances": [{"id": "a", "input": "Is water wet?", "output": ["yes"]}],
    }
    (tmp_path / "task999_wet.json").write_text(json.dumps(raw))
    (task,) = load_tasks(tmp_path)
    assert task.name == "task999_wet"
    assert task.descriptions == ("Answer the question with yes or no.",)
    assert task.instances[0].outputs == ("yes",)


def test_hugging_face_dataset_object_and_id(monkeypatch):
    class FakeDataset:  # the bits of datasets.Dataset that task_from_hf uses
        def __init__(self, rows):
            self.rows = rows

        def to_list(self):
            return list(self.rows)

    rows = [{"id": "x", "input": "2+2", "output": ["4"]}, {"id": "y", "input": "1+1", "output": "2"}]
    task = task_from_hf({"train": FakeDataset(rows)}, name="add", descriptions=["add two numbers"])
    assert [i.outputs for i in task.instances] == [("4",), ("2",)]
    with pytest.raises(ValueError, match="HFTaskColumns"):
        task_from_hf(FakeDataset(rows), name="add", columns=HFTaskColumns(input="question"))

    fake = types.ModuleType("datasets")
    fake.load_dataset = lambda dataset_id, split: FakeDataset(rows)
    monkeypatch.setitem(sys.modules, "datasets", fake)
    (loaded,) = load_tasks("hf:Lots-of-LoRAs/task001_add")
    assert loaded.name == "task001_add" and "task001 add" in loaded.descriptions[0]


def test_bad_sources_say_what_to_fix(tmp_path):
    with pytest.raises(ValueError, match="neither a folder"):
        load_tasks(tmp_path / "missing")
    with pytest.raises(ValueError, match="no <task>.json"):
        load_tasks(tmp_path)
    with pytest.raises(ValueError, match="no instances"):
        Task(name="t", descriptions=("d",), instances=())
    write_tasks(tmp_path, tiny_tasks())
    with pytest.raises(ValueError, match="not in"):
        load_tasks(tmp_path, names=["nope"])


def test_chat_template_prompt_and_response_only_labels():
    tokenizer = char_tokenizer()
    ex = encode_example(tokenizer, "item 1", "yes", max_prompt_length=64, max_response_length=16)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "item 1"}], add_generation_prompt=True)
    n_prompt = len(prompt["input_ids"])
    assert ex.input_ids[:n_prompt] == list(prompt["input_ids"])
    assert ex.labels[:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert tokenizer.decode(ex.labels[n_prompt:]) == "yes<|im_end|>\n"  # the answer and the end of turn
    assert ex.prompt_tokens_cut == ex.response_tokens_cut == 0


def test_truncation_is_explicit_and_counted():
    tokenizer = char_tokenizer()
    tasks = [Task("long", ("d",), (Instance("x" * 40, ("a" * 20,)), Instance("short", ("ok",))))]
    data = TokenizedTasks.build(tasks, tokenizer, max_prompt_length=30, max_response_length=5)
    cut, whole = data.examples[0]
    assert cut.prompt_tokens_cut > 0 and cut.response_tokens_cut == 20 + 2 - 5
    assert len(cut.input_ids) == 30 + 5 and cut.input_ids[-6:-5] == tokenizer.encode("\n")  # prompt end kept
    assert whole.prompt_tokens_cut == whole.response_tokens_cut == 0
    stats = data.truncation
    assert (stats.examples, stats.prompts_truncated, stats.responses_truncated) == (2, 1, 1)
    assert stats.response_tokens_cut == 17
    assert "1/2 prompts" in stats.message()


def test_collate_pads_right_and_masks():
    tokenizer = char_tokenizer()
    a = encode_example(tokenizer, "a", "yes", max_prompt_length=64, max_response_length=16)
    b = encode_example(tokenizer, "longer input", "no", max_prompt_length=64, max_response_length=16)
    batch = collate([a, b], pad_token_id=tokenizer.pad_token_id)
    assert batch["input_ids"].shape == batch["labels"].shape == (2, len(b.input_ids))
    assert batch["attention_mask"][0].sum() == len(a.input_ids)
    assert (batch["labels"][0, len(a.input_ids) :] == IGNORE_INDEX).all()


def test_sampler_mixes_tasks_and_is_a_pure_function_of_the_index():
    tasks = tiny_tasks()
    sampler = TaskMixSampler(tasks, tasks_per_batch=2, examples_per_task=3, seed=7)
    plan = sampler.plan(5)
    assert len(plan.task_ids) == 6 and len(set(plan.task_ids)) == 2
    for t, i, d in zip(plan.task_ids, plan.instance_ids, plan.descriptions):
        assert d in tasks[t].descriptions and 0 <= i < len(tasks[t].instances)
    assert sampler.plan(5) == plan  # same index, same batch: resume needs no iterator state
    assert TaskMixSampler(tasks, tasks_per_batch=2, examples_per_task=3, seed=7, rank=1).plan(5) != plan
    seen = {d for k in range(30) for d in sampler.plan(k).descriptions}
    assert len(seen) == 9  # every phrasing of every task gets used
    with pytest.raises(ValueError, match="tasks_per_batch"):
        TaskMixSampler(tasks, tasks_per_batch=0, examples_per_task=1)


def test_sampler_definition_fraction_draws_definitions_and_leaves_runs_without_it_unchanged():
    tasks = tiny_tasks()
    tasks[0] = dataclasses.replace(tasks[0], definition="Reply with the single word yes, whatever the input.")
    off = TaskMixSampler(tasks, tasks_per_batch=3, examples_per_task=2, seed=3, definition_fraction=0.0)
    for k in range(20):  # off, the draws are the ones made before the option existed: older runs resume unchanged
        rng = random.Random(f"3/0/{k}")
        descriptions = []
        for t in rng.sample(range(3), 3):
            rows = rng.sample(range(len(tasks[t].instances)), 2)
            descriptions += [rng.choice(tasks[t].descriptions) for _ in rows]
        assert off.plan(k).descriptions == descriptions
    always = TaskMixSampler(tasks, tasks_per_batch=3, examples_per_task=2, seed=3, definition_fraction=1.0)
    for k in range(5):
        plan = always.plan(k)
        for t, d in zip(plan.task_ids, plan.descriptions):
            # the task with a definition always gets it; the others keep drawing their descriptions
            assert d == tasks[0].definition if t == 0 else d in tasks[t].descriptions
    some = TaskMixSampler(tasks, tasks_per_batch=3, examples_per_task=2, seed=3, definition_fraction=0.5)
    drawn = [d for k in range(40) for t, d in zip(some.plan(k).task_ids, some.plan(k).descriptions) if t == 0]
    share = drawn.count(tasks[0].definition) / len(drawn)
    assert 0.3 < share < 0.7 and set(drawn) - {tasks[0].definition}  # a mix, near the asked share
    with pytest.raises(ValueError, match="definition_fraction=1.5"):
        TaskMixSampler(tasks, tasks_per_batch=1, examples_per_task=1, definition_fraction=1.5)


@pytest.mark.skipif(not (SNI / "train").is_dir(), reason="the shared SNI subset is not on this machine")
def test_shared_sni_subset_loads():
    """The 452 training tasks of the reference's list and the 11 unseen validation tasks, as the data README says."""
    train, validation = load_tasks(SNI / "train"), load_tasks(SNI / "validation")
    assert (len(train), len(validation)) == (452, 11)
    assert sum(len(t.instances) for t in train) == 15193 and sum(len(t.instances) for t in validation) == 325
    assert all(len(t.descriptions) >= 4 for t in train + validation)
    assert sum(bool(t.eval_descriptions) for t in train) == 10
    assert not {t.name for t in train} & {t.name for t in validation}

    def inputs(tasks):
        return {i.input.strip().lower() for t in tasks for i in t.instances}

    assert not inputs(train) & inputs(validation)  # unseen means unseen: no validation input is trained on
