"""SFT of the hypernetwork: per-row LoRA hooks equal PEFT, the loss falls, the adapter carries the task, only the
hypernetwork changes, and the result is a T2L folder that records how it was trained."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import make_tiny_t2l
from peft import get_peft_model, set_peft_model_state_dict
from test_training_helpers import run_fields, tiny_base, tiny_tasks

from peft_t2l import T2LModel
from peft_t2l.data import BatchPlan, collate, encode_example
from peft_t2l.peft_format import lora_config, lora_state_dict
from peft_t2l.training.config import SFTConfig, config_from_dict
from peft_t2l.training.losses import mismatch_margin_loss, response_loss, response_tokens
from peft_t2l.training.negatives import NearestTaskNegatives, mismatched_rows
from peft_t2l.training.row_lora import RowLoRA
from peft_t2l.training.sft import train_sft

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is faster here


def test_row_lora_matches_peft_row_by_row(head):
    base, _ = tiny_base()
    t2l = make_tiny_t2l(base, head=head)
    with torch.no_grad():  # non-zero B, so the LoRA term is really compared
        for h in t2l.heads.values():
            h.bias.normal_(0, 0.1)
    descriptions = ["answer yes", "translate to french", "count the words"]
    ids = torch.randint(4, 100, (3, 10))
    with torch.no_grad():
        out = t2l(t2l.embed_descriptions(descriptions))
        row_lora = RowLoRA(base, t2l.config)
        with row_lora.apply(out.lora_A, out.lora_B):
            hooked = base(input_ids=ids).logits  # [3, 10, V]
        row_lora.remove()
        plain = base(input_ids=ids).logits
        assert not torch.allclose(hooked, plain)  # the hooks did change the output
        peft_model = get_peft_model(base, lora_config(t2l.config))
        for row in range(3):
            set_peft_model_state_dict(peft_model, lora_state_dict(t2l.config, out.lora_A, out.lora_B, row))
            expected = peft_model.eval()(input_ids=ids[row : row + 1]).logits[0]
            torch.testing.assert_close(hooked[row], expected, rtol=1e-5, atol=1e-5)


def test_gradients_reach_only_the_hypernetwork():
    base, tokenizer = tiny_base()
    base.requires_grad_(False)
    t2l = make_tiny_t2l(base).train()
    batch = collate(
        [encode_example(tokenizer, "item 1", "yes", max_prompt_length=32, max_response_length=8)] * 2, pad_token_id=0
    )
    out = t2l(t2l.embed_descriptions(["answer yes", "answer no"]))
    with RowLoRA(base, t2l.config).apply(out.lora_A, out.lora_B):
        response_loss(base(input_ids=batch["input_ids"]).logits, batch["labels"]).backward()
    assert all(p.grad is None for p in base.parameters())
    assert all(p.grad is not None for p in t2l.heads.parameters())


def test_sft_loss_falls_and_the_adapter_carries_the_task(tmp_path):
    base, tokenizer = tiny_base()
    t2l = make_tiny_t2l(base, dropout=0.0)
    base_before = {k: v.clone() for k, v in base.state_dict().items()}
    t2l_before = {k: v.clone() for k, v in t2l.state_dict().items()}
    config = config_from_dict(SFTConfig, run_fields(tmp_path, max_steps=60, learning_rate=1e-2, warmup_steps=5))
    result = train_sft(config, base_model=base, tokenizer=tokenizer, t2l_model=t2l, tasks=tiny_tasks())

    losses = result.train.losses
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.2
    for key, value in base.state_dict().items():  # the base model is frozen
        assert torch.equal(value, base_before[key]), key
    changed = [k for k, v in t2l.state_dict().items() if not torch.equal(v, t2l_before[k])]
    assert any(k.startswith("heads.") for k in changed) and any(k.startswith("mlp") for k in changed)

    # each description's adapter makes its own task's answer the most likely one
    answers, descriptions = ["yes", "no", "maybe"], ["answer yes", "answer no", "answer maybe"]
    model, row_lora = result.model.eval(), RowLoRA(base, result.model.config)
    with torch.no_grad():
        out = model(model.embed_descriptions(descriptions))
        for answer in answers:
            batch = collate(
                [encode_example(tokenizer, "item 3", answer, max_prompt_length=32, max_response_length=8)] * 3,
                pad_token_id=tokenizer.pad_token_id,
            )
            with row_lora.apply(out.lora_A, out.lora_B):
                logits = base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            per_row = [response_loss(logits[i : i + 1], batch["labels"][i : i + 1]).item() for i in range(3)]
            assert min(range(3), key=per_row.__getitem__) == answers.index(answer), (answer, per_row)


def test_sft_output_is_a_t2l_folder_with_its_training_summary(tmp_path):
    base, tokenizer = tiny_base()
    config = config_from_dict(
        SFTConfig,
        run_fields(
            tmp_path,
            max_steps=3,
            label_smoothing=0.1,
            neftune_noise_alpha=5.0,
            l2_reg_generated_w=1e-2,
            num_holdout_descriptions=1,
        ),
    )
    result = train_sft(config, base_model=base, tokenizer=tokenizer, t2l_model=make_tiny_t2l(base), tasks=tiny_tasks())
    loaded = T2LModel.from_pretrained(result.model_dir)
    summary = loaded.config.training_summary
    assert summary["regime"] == "sft" and summary["steps"] == 3
    assert summary["tasks"] == ["say_yes", "say_no", "say_maybe"]
    assert summary["training_config"]["neftune_noise_alpha"] == 5.0
    assert summary["encoder"]["type"] == "sentence_transformers"
    for key, value in result.model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    held_out = json.loads((tmp_path / "run" / "eval_descriptions.json").read_text())
    assert held_out["say_no"] == ["respond with no"]  # the last description never reached training


def test_sft_builds_a_hypernetwork_from_the_config(tmp_path):
    base, tokenizer = tiny_base()
    config = config_from_dict(
        SFTConfig,
        run_fields(
            tmp_path, max_steps=2, encoder_type="one_hot", head="S", latent_size=16, head_in_size=16, lora_rank=2
        ),
    )
    result = train_sft(config, base_model=base, tokenizer=tokenizer, tasks=tiny_tasks())
    c = result.model.config
    assert (c.head, c.lora_rank, c.encoder_type) == ("S", 2, "one_hot")
    assert c.task_names == ["say_yes", "say_no", "say_maybe"]


# ---- conditioning: per-example loss and the mismatch margin ------------------------------------------------------


def test_per_example_loss_is_each_rows_own_token_mean():
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 11)
    labels = torch.tensor([[-100, -100, 3, 4, 5, 6], [-100, -100, -100, -100, -100, 7]])  # 4 and 1 response tokens
    per_row = response_loss(logits, labels, per_example=True)
    assert per_row.shape == (2,)
    for row in range(2):
        torch.testing.assert_close(per_row[row], response_loss(logits[row : row + 1], labels[row : row + 1]))
    # the token mean weighs the 4-token row 4:1, the per-example mean 1:1
    token_mean = response_loss(logits, labels)
    torch.testing.assert_close(token_mean, (4 * per_row[0] + per_row[1]) / 5)
    tokens = response_tokens(labels)  # what SFT weighs the per-example losses by to get the token mean back
    assert tokens.tolist() == [4.0, 1.0]
    torch.testing.assert_close(token_mean, (per_row * tokens).sum() / tokens.sum())
    assert not torch.allclose(token_mean, per_row.mean())


def test_mismatched_rows_pair_each_row_with_another_task():
    assert mismatched_rows([0, 0, 1, 1], 0.5) == [(0, 2), (1, 2)]
    assert mismatched_rows([3, 5, 7, 9], 1.0) == [(0, 1), (1, 2), (2, 3), (3, 0)]
    assert mismatched_rows([4, 4], 1.0) == []  # one task in the batch: nothing to mismatch
    assert mismatched_rows([0, 1, 2, 3], 0.0) == []


def test_mismatch_margin_loss_is_a_hinge_on_the_gap():
    own, other = torch.tensor([1.0, 1.0, 1.0]), torch.tensor([1.2, 2.5, 0.5])
    loss = mismatch_margin_loss(own, other, margin=1.0)  # gaps 0.2, 1.5, -0.5 -> hinge 0.8, 0, 1.5
    torch.testing.assert_close(loss, torch.tensor((0.8 + 0.0 + 1.5) / 3))
    assert mismatch_margin_loss(own, own + 2, margin=1.0).item() == 0.0


@pytest.mark.parametrize("negatives", ["batch", "nearest"])
def test_sft_with_the_mismatch_margin_opens_the_gap(tmp_path, negatives):
    """Same run twice; weight 0 still measures the gap on the mismatched rows but does not train on it."""
    gaps = {}
    for weight in (0.0, 1.0):
        base, tokenizer = tiny_base()
        fields = run_fields(
            tmp_path / str(weight), max_steps=60, learning_rate=1e-2, warmup_steps=5, log_every=1,
            loss_per_example=True, mismatch_fraction=0.5, mismatch_margin=1.0, mismatch_weight=weight,
            mismatch_negatives=negatives, mismatch_nearest_k=1,
        )  # fmt: skip
        result = train_sft(
            config_from_dict(SFTConfig, fields),
            base_model=base,
            tokenizer=tokenizer,
            t2l_model=make_tiny_t2l(base, dropout=0.0),
            tasks=tiny_tasks(),
        )
        lines = (tmp_path / str(weight) / "run" / "metrics.jsonl").read_text().splitlines()
        gap = [json.loads(line)["mismatch_gap"] for line in lines]
        assert abs(gap[0]) < 0.1  # at the start every description writes about the same adapter
        gaps[weight] = sum(gap[-5:]) / 5
    assert gaps[1.0] > gaps[0.0] + 0.15, gaps
    assert result.model.config.training_summary["training_config"]["mismatch_fraction"] == 0.5


@pytest.mark.parametrize(
    "field, value",
    [
        ("mismatch_fraction", 1.5),
        ("mismatch_fraction", -0.1),
        ("mismatch_weight", -1.0),
        ("mismatch_margin", -0.5),
        ("mismatch_negatives", "far"),
        ("mismatch_nearest_k", 0),
        ("definition_fraction", 1.5),
        ("definition_fraction", -0.1),
    ],
)
def test_mismatch_fields_are_validated(tmp_path, field, value):
    with pytest.raises(ValueError, match=f"SFTConfig.{field}="):
        config_from_dict(SFTConfig, run_fields(tmp_path, **{field: value}))


def test_definition_fraction_needs_a_text_encoder(tmp_path):
    with pytest.raises(ValueError, match="SFTConfig.definition_fraction=0.2 is invalid: a one_hot encoder"):
        config_from_dict(SFTConfig, run_fields(tmp_path, encoder_type="one_hot", definition_fraction=0.2))


def test_mismatch_needs_two_tasks_per_batch(tmp_path):
    with pytest.raises(ValueError, match="tasks_per_batch=1"):
        config_from_dict(SFTConfig, run_fields(tmp_path, tasks_per_batch=1, mismatch_fraction=0.5))


def _embed_by_table(table: dict[str, list[float]]):
    return lambda texts: torch.tensor([table[t] for t in texts])


def test_nearest_task_negatives_come_from_the_closest_other_task():
    tasks = tiny_tasks()  # say_yes, say_no, say_maybe: place "yes" and "no" close together, "maybe" far from both
    direction = {"say_yes": [1.0, 0.1, 0.0], "say_no": [1.0, -0.1, 0.0], "say_maybe": [0.1, 0.1, 1.0]}
    table = {d: direction[t.name] for t in tasks for d in t.descriptions}
    negatives = NearestTaskNegatives(tasks, _embed_by_table(table), k=1, seed=3)
    assert negatives.nearest == [[1], [0], [0]]  # "maybe" leans a little towards "yes"
    plan = BatchPlan(task_ids=[0, 1, 2], instance_ids=[0, 0, 0], descriptions=["", "", ""])
    texts = negatives.draw(plan, rows=[0, 1, 2], index=5)
    assert texts[0] in tasks[1].descriptions and texts[1] in tasks[0].descriptions
    assert texts[2] not in tasks[2].descriptions  # never the row's own task
    assert negatives.draw(plan, rows=[0, 1, 2], index=5) == texts  # a resumed run draws the same negatives
    wide = NearestTaskNegatives(tasks, _embed_by_table(table), k=5)  # k above the other tasks: all of them
    assert [sorted(n) for n in wide.nearest] == [[1, 2], [0, 2], [0, 1]]


def test_nearest_task_negatives_reject_what_cannot_work():
    tasks = tiny_tasks()
    embed = _embed_by_table({d: [1.0, 0.0] for t in tasks for d in t.descriptions})
    with pytest.raises(ValueError, match="k=0 must be >= 1"):
        NearestTaskNegatives(tasks, embed, k=0)
    with pytest.raises(ValueError, match="need >= 2 training tasks, got 1"):
        NearestTaskNegatives(tasks[:1], embed)


def test_nearest_negatives_need_a_text_encoder(tmp_path):
    base, tokenizer = tiny_base()
    fields = run_fields(
        tmp_path, max_steps=1, encoder_type="one_hot", mismatch_fraction=0.5, mismatch_negatives="nearest"
    )
    with pytest.raises(ValueError, match="mismatch_negatives='nearest' needs a text encoder"):
        train_sft(config_from_dict(SFTConfig, fields), base_model=base, tokenizer=tokenizer, tasks=tiny_tasks())
