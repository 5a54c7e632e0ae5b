"""What a careless user or an attacker can feed the library, the CLI, the data readers, the converter and the Space.

One table of cases (issue 12): each runs one bad input and states the clear error (or the safe outcome) expected.
Every case failed before its fix: it ran with exit 0, wrote something it should not have, or raised a traceback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from conftest import make_tiny_llama, make_tiny_t2l
from safetensors.torch import load_file, save_file

from peft_t2l import T2LConfig, T2LModel, load_base_model, load_t2l_model
from peft_t2l.cli import main
from peft_t2l.data import load_tasks
from peft_t2l.encoders import TRUST_REMOTE_CODE_ENV as TRUST_ENV
from peft_t2l.hub import t2l_model_card
from peft_t2l.safe_io import write_folder


@dataclass
class Ctx:
    """What a case may use: a scratch folder, a saved tiny T2L model and one of its adapters."""

    tmp: Path
    t2l: T2LModel
    t2l_dir: Path
    lora: object


@pytest.fixture(scope="module")
def shared(tmp_path_factory, one_thread_module):
    base = make_tiny_llama()
    t2l = make_tiny_t2l(base, task_emb_size=384)  # saved, it reads descriptions with the offline MiniLM (384-d)
    t2l_dir = tmp_path_factory.mktemp("shared") / "t2l"
    t2l.save_pretrained(t2l_dir)
    (t2l_dir.parent / "llama").mkdir()
    base.save_pretrained(t2l_dir.parent / "llama")
    return t2l, t2l_dir, t2l.generate_lora("answer yes or no")


@pytest.fixture(scope="module")
def one_thread_module():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def ctx(shared, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    t2l, t2l_dir, lora = shared
    return Ctx(tmp_path, t2l, t2l_dir, lora)


def _copy_model(ctx: Ctx, edit: Callable[[dict], dict]) -> Path:
    folder = ctx.tmp / "edited"
    shutil.copytree(ctx.t2l_dir, folder)
    weights = load_file(folder / "model.safetensors")
    save_file(edit(dict(weights)), folder / "model.safetensors", metadata={"format": "pt"})
    return folder


def _drop_one(weights: dict) -> dict:
    weights.pop(sorted(weights)[0])
    return weights


def _add_one(weights: dict) -> dict:
    return {**weights, "extra.weight": torch.zeros(2)}


def _misshape(weights: dict) -> dict:
    return {**weights, sorted(weights)[0]: torch.zeros(3, 3)}


def _cli(*argv: str) -> int:
    return main([str(a) for a in argv])


def _nan_adapter(ctx: Ctx):
    lora = ctx.t2l.generate_lora("x")
    next(iter(lora.state_dict.values()))[0, 0] = float("nan")
    lora.save_pretrained(ctx.tmp / "nan")


def _resume_with_other_shapes(ctx: Ctx):
    from peft_t2l.training.checkpoint import TrainState, load_checkpoint, save_checkpoint

    def parts(size: int):
        model = torch.nn.Linear(size, 2)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        return model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)

    model, optimizer, scheduler = parts(3)
    folder = save_checkpoint(
        ctx.tmp / "run", model_state=model.state_dict(), optimizer=optimizer, scheduler=scheduler,
        state=TrainState(step=1), config={},
    )  # fmt: skip
    model, optimizer, scheduler = parts(4)
    load_checkpoint(folder, model=model, optimizer=optimizer, scheduler=scheduler)


def _remote_code_encoder():
    from peft_t2l.encoders import load_text_encoder

    config = T2LConfig(
        encoder_type="cls_token", encoder_name_or_path="someone/encoder", encoder_trust_remote_code=True
    )
    return load_text_encoder(config)


def _project_folder(ctx: Ctx) -> Path:
    project = ctx.tmp / "project"
    project.mkdir()
    (project / "main.py").write_text("important = True\n")
    return project


def _task_file(ctx: Ctx, content: bytes | dict) -> Path:
    path = ctx.tmp / "task042.json"
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


GOOD_TASK = {"task": "task042", "descriptions": ["Answer no."], "instances": [{"input": "Is it?", "output": ["no"]}]}


def _task(**changes) -> dict:
    return {**GOOD_TASK, **changes}


def _load_task(content: bytes | dict) -> Callable[[Ctx], object]:
    return lambda c: load_tasks(_task_file(c, content))


def _reference(ctx: Ctx, **edits) -> Path:
    from test_convert import reference_state_dict, write_reference_dir

    sd = reference_state_dict("L")
    sd.update(edits.pop("tensors", {}))
    return write_reference_dir(ctx.tmp / "ref", sd, **edits)


def _convert(ctx: Ctx, break_it: Callable[[Path], object] | None = None, out: str | None = None) -> object:
    from peft_t2l.convert import convert_sakana_checkpoint

    ref = _reference(ctx)
    if break_it is not None:
        break_it(ref)
    return convert_sakana_checkpoint(ref, out)


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b]\n"


def _cli_convert_over(ctx: Ctx, existing: Callable[[Ctx], Path], *flags: str) -> int:
    return _cli("convert-sakana", _reference(ctx), existing(ctx), *flags)


def _converted_before(ctx: Ctx) -> Path:
    out = ctx.tmp / "converted"
    out.mkdir()
    (out / "config.json").write_text('{"model_type": "t2l"}')
    return out


# ---- the table ------------------------------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    run: Callable[[Ctx], object]
    error: type[BaseException] | None = ValueError
    match: str = ""


CASES = [
    # 3. any folder with a config.json loaded as a T2L
    Case("3-llama-folder-is-not-a-t2l", lambda c: load_t2l_model(c.t2l_dir.parent / "llama"), match="type 'llama'"),
    Case(
        "3-cli-generate-from-llama-folder",
        lambda c: _cli("generate", "x", "--model", c.t2l_dir.parent / "llama", "--out", c.tmp / "a"),
        None,
        "type 'llama', not a T2L model",
    ),
    # 4. missing or unexpected tensors silently re-initialised
    Case("4-missing-tensor", lambda c: load_t2l_model(_copy_model(c, _drop_one)), match="missing keys: \\['heads"),
    Case("4-unexpected-tensor", lambda c: load_t2l_model(_copy_model(c, _add_one)), match="unexpected keys"),
    Case("9-wrong-shaped-tensor", lambda c: load_t2l_model(_copy_model(c, _misshape)), match="shapes do not fit"),
    # 5. data files read loosely: each error names the file, the task and the field
    Case(
        "5-descriptions-one-string",
        _load_task(_task(descriptions="answer no")),
        match="task042.json: task 'task042', field 'descriptions' is one string",
    ),
    Case("5-bad-json", _load_task(b'{"task": "x",'), match="task042.json: invalid JSON at line 1"),
    Case("5-empty-file", _load_task(b"  \n"), match="task042.json: the file is empty"),
    Case("5-not-utf8", _load_task(b'{"task": "caf\xe9"}'), match="task042.json: byte 13 is not UTF-8"),
    Case(
        "5-output-not-a-string",
        _load_task(_task(instances=[{"input": "a", "output": [3]}])),
        match="field 'instances\\[0\\].output\\[0\\]' is a int",
    ),
    Case(
        "5-output-missing",
        _load_task(_task(instances=[{"input": "a"}])),
        match="field 'instances\\[0\\].output' is missing",
    ),
    Case(
        "5-input-missing",
        _load_task(_task(instances=[{"output": "a"}])),
        match="field 'instances\\[0\\].input' is missing",
    ),
    Case(
        "5-input-not-a-string",
        _load_task(_task(instances=[{"input": None, "output": "a"}])),
        match="'instances\\[0\\].input' is null",
    ),
    Case(
        "5-top-level-list",
        _load_task(b"[1, 2]"),
        match="task042.json: task 'task042', field '\\(top level\\)' is a JSON list",
    ),
    Case("5-no-instances-names-the-file", _load_task(_task(instances=[])), match="task042.json: Task 'task042'"),
    # 6. folders written whole, one writer at a time
    Case(
        "6-second-writer-refused",
        lambda c: _while_locked(c, lambda: c.lora.save_pretrained(c.tmp / "busy")),
        match="another process",
    ),
    Case(
        "6-second-t2l-writer-refused",
        lambda c: _while_locked(c, lambda: c.t2l.save_pretrained(c.tmp / "busy")),
        match="another process",
    ),
    # 8. silent overwrites, and --out "" meaning the current folder
    Case(
        "8-generate-out-empty",
        lambda c: _cli("generate", "x", "--model", c.t2l_dir, "--out", "", "--overwrite"),
        None,
        "--out='' is empty",
    ),
    Case("8-save-empty-path", lambda c: c.lora.save_pretrained(""), match="empty"),
    Case("8-save-into-cwd", lambda c: c.lora.save_pretrained("."), match="current folder"),
    Case("8-save-over-a-project", lambda c: c.lora.save_pretrained(_project_folder(c)), match="not a previous"),
    Case("8-t2l-save-over-a-project", lambda c: c.t2l.save_pretrained(_project_folder(c)), match="not a previous"),
    Case(
        "8-adapter-save-no-overwrite",
        lambda c: (c.lora.save_pretrained(c.tmp / "a"), c.lora.save_pretrained(c.tmp / "a", overwrite=False)),
        match="not empty",
    ),
    # 9. tracebacks instead of errors
    Case("9-out-is-a-file", lambda c: c.lora.save_pretrained(_file(c)), match="is a file"),
    Case("9-out-under-a-file", lambda c: c.lora.save_pretrained(_file(c) / "sub"), match="which is a file"),
    Case("9-out-in-proc", lambda c: c.lora.save_pretrained("/proc/t2l-adapter"), match="/proc"),
    Case(
        "9-convert-empty-hypermod",
        lambda c: _convert(c, lambda r: (r / "hypermod.pt").write_bytes(b"")),
        match="hypermod.pt is empty",
    ),
    Case(
        "9-convert-truncated-hypermod",
        lambda c: _convert(c, lambda r: (r / "hypermod.pt").write_bytes((r / "hypermod.pt").read_bytes()[:300])),
        match="truncated or corrupt",
    ),
    Case("9-convert-missing-hypermod", lambda c: _cli("convert-sakana", c.tmp, c.tmp / "out"), None, "hypermod.pt"),
    Case(
        "9-convert-misshaped-tensor",
        lambda c: _convert(
            c,
            lambda r: torch.save(
                {**torch.load(r / "hypermod.pt"), "mlp1.mlp.0.weight": torch.zeros(3, 3)}, r / "hypermod.pt"
            ),
        ),
        match="inconsistent shapes",
    ),
    Case("8-convert-over-existing-model", lambda c: _cli_convert_over(c, _converted_before), None, "not empty"),
    Case(
        "8-convert-over-a-project",
        lambda c: _cli_convert_over(c, _project_folder, "--overwrite"),
        None,
        "not a previous",
    ),
    # 13. YAML aliases expand without bound
    Case(
        "13-args-yaml-aliases",
        lambda c: _convert(c, lambda r: (r / "args.yaml").write_text((r / "args.yaml").read_text() + ALIAS_BOMB)),
        match="aliases",
    ),
    Case(
        "13-args-yaml-huge",
        lambda c: _convert(c, lambda r: (r / "args.yaml").write_text("x: " + "y" * (2 << 20))),
        match="is refused",
    ),
    Case("9-train-output-dir-is-a-file", lambda c: _cli("train", "sft", f"output_dir={_file(c)}"), None, "is a file"),
    Case(
        "9-train-missing-base-model",
        lambda c: _cli("train", "sft", "output_dir=r", "base_model=./no/such/model"),
        None,
        "base_model='./no/such/model' does not exist",
    ),
    Case(
        "9-train-missing-init-from",
        lambda c: _cli("train", "sft", "output_dir=r", f"init_from={c.tmp}/none/t2l"),
        None,
        "init_from=.* does not exist",
    ),
    Case("9-resume-checkpoint-with-other-shapes", _resume_with_other_shapes, match="other shapes"),
    # 10. validation gaps
    Case("10-float-rank", lambda c: T2LConfig(lora_rank=8.5), match="lora_rank=8.5"),
    Case("10-string-rank", lambda c: T2LConfig(lora_rank="8"), match="lora_rank='8'"),
    Case("10-huge-rank", lambda c: T2LConfig(lora_rank=10**6), match="at most"),
    Case("10-string-target-modules", lambda c: T2LConfig(target_modules="q_proj"), match="is a string"),
    Case(
        "10-string-target-modules-from-base",
        lambda c: T2LModel.from_base_model(make_tiny_llama(), target_modules="q_proj", task_emb_size=16),
        match="is a string",
    ),
    Case(
        "10-unknown-keyword",
        lambda c: T2LModel.from_base_model(make_tiny_llama(), lora_rnak=4, task_emb_size=16),
        match="lora_rnak",
    ),
    Case("10-lone-surrogate", lambda c: c.t2l.generate_lora("bad \udcff text"), match="not valid Unicode"),
    Case("10-nan-adapter", _nan_adapter, match="NaN"),
    Case("security-config-asks-for-encoder-remote-code", lambda c: _remote_code_encoder(), match=TRUST_ENV),
    Case("10-missing-local-path", lambda c: load_t2l_model("./no/such/t2l"), FileNotFoundError, "does not exist"),
    Case(
        "10-missing-local-base-model", lambda c: load_base_model("./no/such/base"), FileNotFoundError, "does not exist"
    ),
]


def _file(ctx: Ctx) -> Path:
    path = ctx.tmp / "a-file"
    path.write_text("not a folder")
    return path


def _while_locked(ctx: Ctx, write: Callable[[], object]):
    with write_folder(ctx.tmp / "busy") as tmp:
        (tmp / "x").write_text("first writer")
        write()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, ctx: Ctx, capsys):
    before = sorted(p.name for p in ctx.tmp.iterdir())
    if case.error is None:  # a CLI case: exit code 2 and a one-line message, no traceback
        assert case.run(ctx) == 2
        err = capsys.readouterr().err
        assert "error:" in err and "Traceback" not in err
        assert re.search(case.match, err), err
    else:
        with pytest.raises(case.error, match=case.match):
            case.run(ctx)
    leftovers = [p.name for p in ctx.tmp.iterdir() if p.name.startswith(".") and p.name not in before]
    assert not leftovers, f"half-written files left behind: {leftovers}"


# ---- cases that check what is on disk afterwards -------------------------------------------------------------------


def test_interrupted_adapter_save_leaves_the_old_folder_whole(ctx, monkeypatch):
    out = ctx.tmp / "adapter"
    ctx.lora.save_pretrained(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    other = ctx.t2l.generate_lora("a different task entirely")

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(type(other.lora_config), "save_pretrained", interrupted)
    with pytest.raises(KeyboardInterrupt):
        other.save_pretrained(out)  # the weights are written by then, the config and README are not
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in ctx.tmp.iterdir()) == ["adapter"]


def test_cli_names_the_extra_of_a_command_whose_dependency_is_missing(monkeypatch, capsys):
    import importlib

    real = importlib.import_module

    def without_eval(name, *args):
        if name == "peft_t2l.evaluation.cli":
            raise ModuleNotFoundError("No module named 'rouge_score'", name="rouge_score")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_eval)
    assert main(["eval", "--tasks", "x"]) == 2
    err = capsys.readouterr().err
    assert "'rouge_score'" in err and "peft-t2l[eval]" in err and "invalid choice" not in err


def test_data_file_with_a_bom_loads(ctx):
    path = _task_file(ctx, b"\xef\xbb\xbf" + json.dumps(GOOD_TASK).encode())
    assert load_tasks(path)[0].descriptions == ("Answer no.",)


def test_overwrite_replaces_the_whole_adapter_folder(ctx):
    out = ctx.tmp / "adapter"
    ctx.lora.save_pretrained(out)
    ctx.t2l.generate_lora("another task").save_pretrained(out, model_card=False)
    assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]


def test_adapter_files_follow_the_umask(ctx):
    previous = os.umask(0o022)
    try:
        out = ctx.lora.save_pretrained(ctx.tmp / "adapter")
    finally:
        os.umask(previous)
    modes = {p.name: p.stat().st_mode & 0o777 for p in Path(out).iterdir()}
    assert modes == {"adapter_config.json": 0o644, "adapter_model.safetensors": 0o644, "README.md": 0o644}


def test_cli_demo_and_generate_do_not_overwrite(ctx, capsys):
    out = ctx.tmp / "adapter"
    out.mkdir()
    (out / "README.md").write_text("mine")
    assert _cli("generate", "x", "--model", ctx.t2l_dir, "--out", out) == 2
    assert _cli("demo", "x", "--prompt", "y", "--model", ctx.t2l_dir, "--out", out) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "README.md").read_text() == "mine"


def test_model_card_keeps_the_description_in_its_quote_and_no_local_path(ctx):
    lora = ctx.t2l.generate_lora("line one\n\n# Injected heading\n<script>alert(1)</script>\n```")
    lora.t2l_model = str(ctx.t2l_dir.resolve())
    card = str(lora.model_card())
    body = card.split("from this task description:\n\n", 1)[1].split("\n\nRank ", 1)[0]
    assert all(line.startswith("> ") or line == ">" for line in body.splitlines()), body
    assert "<script>" not in card and "\n# Injected" not in card
    assert str(ctx.t2l_dir.parent) not in card
    t2l_card = str(t2l_model_card(load_t2l_model(ctx.t2l_dir.resolve())))
    assert str(ctx.t2l_dir.parent) not in t2l_card


def test_each_adapter_of_a_batch_owns_its_tensors(ctx):
    loras = ctx.t2l.generate_lora([f"task {i}" for i in range(5)], batch_size=2)
    for lora in loras:
        for tensor in lora.state_dict.values():
            assert tensor.untyped_storage().nbytes() == tensor.numel() * tensor.element_size()
    single = ctx.t2l.generate_lora("task 3")
    for k, v in single.state_dict.items():
        torch.testing.assert_close(loras[3].state_dict[k], v, rtol=1e-5, atol=1e-6)


def test_t2l_folder_overwrite_keeps_a_loadable_model(ctx):
    out = ctx.tmp / "t2l"
    ctx.t2l.save_pretrained(out)
    ctx.t2l.save_pretrained(out)
    assert json.loads((out / "config.json").read_text())["model_type"] == "t2l"
    load_t2l_model(out)
    assert sorted(p.name for p in ctx.tmp.iterdir()) == ["t2l"]


# ---- the Space (items 1, 2, 14) -------------------------------------------------------------------------------------

SPACE = Path(__file__).resolve().parents[1] / "space"


@pytest.fixture(scope="module")
def space(one_thread_module):
    gr = pytest.importorskip("gradio")
    import sys

    sys.path.insert(0, str(SPACE))
    from t2l_demo.chat import build_prompt
    from t2l_demo.config import AppConfig
    from t2l_demo.handlers import DemoHandlers
    from t2l_demo.session import Session
    from t2l_demo.tiny import tiny_models, tiny_tokenizer

    return dict(
        gr=gr,
        AppConfig=AppConfig,
        DemoHandlers=DemoHandlers,
        Session=Session,
        models=tiny_models(slots=2),
        build_prompt=build_prompt,
        tokenizer=tiny_tokenizer(),
    )


def test_space_push_uses_the_visitors_token_never_the_owners(space, monkeypatch):
    gr = space["gr"]
    monkeypatch.setenv("HF_TOKEN", "hf_owner_secret")
    handlers = space["DemoHandlers"](space["models"], space["AppConfig"](hub_login="on"))
    session, *_ = handlers.generate("answer yes or no", space["Session"]())
    used = []
    monkeypatch.setattr("peft_t2l.GeneratedLoRA.push_to_hub", lambda self, repo, **kw: used.append((repo, kw)))
    with pytest.raises(gr.Error, match="Sign in"):  # a visitor who is not signed in gets nothing pushed
        handlers.push("x", True, session, None, None)
    profile = gr.OAuthProfile({"preferred_username": "visitor", "name": "", "profile": "", "picture": ""})
    token = gr.OAuthToken(token="hf_visitor", scope="contribute-repos", expires_at=0)
    with pytest.raises(gr.Error, match="your own account"):
        handlers.push("owner/their-model", True, session, profile, token)
    handlers.push("my-adapter", True, session, profile, token)
    assert used == [("visitor/my-adapter", {"token": "hf_visitor", "private": True})]
    # Gradio fills these two parameters from the visitor's sign-in session, not from the page's inputs
    from typing import get_type_hints

    from gradio.utils import is_special_typed_parameter

    hints = get_type_hints(handlers.push)
    assert is_special_typed_parameter("profile", hints) and is_special_typed_parameter("oauth_token", hints)


def test_space_page_has_sign_in_only_when_push_is_on(space, monkeypatch):
    from t2l_demo.ui import build_demo

    gr = space["gr"]
    pytest.importorskip("authlib")  # gradio[oauth]: what a Space with hf_oauth installs from requirements.txt
    monkeypatch.delenv("OAUTH_CLIENT_ID", raising=False)
    monkeypatch.setenv("HF_TOKEN", "hf_owner_secret")  # an owner's token alone no longer turns pushing on
    off = build_demo(space["models"], space["AppConfig"]())
    # what a Space with `hf_oauth: true` provides; nothing here reaches the network
    monkeypatch.setattr("gradio.oauth.get_space", lambda: "me/text-to-lora")
    for name in ("OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_SCOPES", "OPENID_PROVIDER_URL"):
        monkeypatch.setattr(f"gradio.oauth.{name}", "https://example.invalid" if "URL" in name else "x")
    monkeypatch.setenv("OAUTH_CLIENT_ID", "x")
    on = build_demo(space["models"], space["AppConfig"]())  # auto: on, since the Space has OAuth
    assert not any(isinstance(b, gr.LoginButton) for b in off.blocks.values())
    assert any(isinstance(b, gr.LoginButton) for b in on.blocks.values())


def test_space_oversize_history_is_refused_at_once(space):
    gr = space["gr"]
    handlers = space["DemoHandlers"](space["models"], space["AppConfig"](max_new_tokens=2))
    session, *_ = handlers.generate("answer yes or no", space["Session"]())
    huge = [{"role": r, "content": "word " * 40} for r in ["user", "assistant"] * 2000]  # ~0.4 MB
    start = time.perf_counter()
    with pytest.raises(gr.Error, match="Clear chat"):
        next(handlers.chat("hello", huge, huge, session))
    assert time.perf_counter() - start < 1.0


def test_space_history_is_trimmed_to_the_limits(space):
    config = space["AppConfig"](max_new_tokens=2, max_history_turns=4, max_history_chars=400)
    handlers = space["DemoHandlers"](space["models"], config)
    session, *_ = handlers.generate("answer yes or no", space["Session"]())
    history = [{"role": r, "content": f"{i} " * 30} for i, r in enumerate(["user", "assistant"] * 4)]
    _, adapted, base = next(handlers.chat("hello", history, history, session))
    assert len(adapted) <= 5 and adapted[0]["role"] == "user" and adapted[-1]["content"] == "hello"
    assert sum(len(m["content"]) for m in adapted[:-1]) <= 400


def test_space_prompt_building_is_linear(space):
    tok = space["tokenizer"]
    calls = []
    original = type(tok).apply_chat_template

    class Counting(type(tok)):
        def apply_chat_template(self, *args, **kwargs):
            calls.append(1)
            return original(self, *args, **kwargs)

    tok.__class__ = Counting
    try:
        turns = [{"role": r, "content": f"turn {i} " * 20} for i, r in enumerate(["user", "assistant"] * 200)]
        turns.append({"role": "user", "content": "last"})
        prompt = space["build_prompt"](tok, turns, max_tokens=100)
    finally:
        tok.__class__ = Counting.__bases__[0]
    assert "last" in prompt and len(tok(prompt).input_ids) <= 100
    assert len(calls) <= 6, f"the chat template ran {len(calls)} times for one prompt"


def test_space_download_folder_is_removed(space):
    import gc

    handlers = space["DemoHandlers"](space["models"], space["AppConfig"]())
    session, *_ = handlers.generate("answer yes or no", space["Session"]())
    archive = Path(handlers.download(session))
    folder = archive.parents[1]
    assert folder.name.startswith("t2l-space-") and folder.exists()
    handlers.close()
    assert not folder.exists()
    again = space["DemoHandlers"](space["models"], space["AppConfig"]())
    folder = Path(again.download(session)).parents[1]
    del again
    gc.collect()
    assert not folder.exists()
