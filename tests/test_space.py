"""Unit tests of the Space: handlers called directly, on tiny random models built in code."""

import ast
import importlib.util
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path

import gradio as gr
import pytest
import torch
import yaml
from peft import PeftModel
from transformers import LlamaForCausalLM

import peft_t2l

SPACE = Path(__file__).resolve().parents[1] / "space"
sys.path.insert(0, str(SPACE))

from t2l_demo import runtime  # noqa: E402
from t2l_demo.chat import build_prompt, flatten_history  # noqa: E402
from t2l_demo.config import AppConfig  # noqa: E402
from t2l_demo.handlers import DemoHandlers, weight_norms  # noqa: E402
from t2l_demo.session import Session  # noqa: E402
from t2l_demo.tiny import tiny_models, tiny_tokenizer  # noqa: E402
from t2l_demo.ui import build_demo  # noqa: E402

TASKS = ["Translate English sentences into French.", "Solve math word problems.", "Summarise news in a sentence."]


@pytest.fixture(scope="module")
def models():
    return tiny_models(slots=2)


@pytest.fixture
def handlers(models):
    return DemoHandlers(models, AppConfig(max_new_tokens=10, adapters_per_session=3))


def final(stream):
    """Run a chat stream to its end; return (number of updates, last update)."""
    updates = list(stream)
    return len(updates), updates[-1]


def answers(update):
    _, adapted, base = update
    return adapted[-1]["content"], base[-1]["content"]


def reference_answer(models, prompt: str, adapter: str | None, max_new_tokens: int) -> str:
    """What the shared model says with one adapter active (or none), generated on its own, without the app."""
    tok = models.tokenizer
    text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    inputs = tok(text, return_tensors="pt", add_special_tokens=False)
    with models.lock:
        if adapter is None:
            with models.peft_model.disable_adapter():
                out = models.peft_model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        else:
            models.peft_model.set_adapter(adapter)
            out = models.peft_model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return tok.decode(out[0, inputs.input_ids.shape[1] :], skip_special_tokens=True)


# ---- settings ----------------------------------------------------------------------------------------------------


def test_config_reads_environment_and_flags_override():
    env = {"T2L_MODEL": "me/t2l", "T2L_MAX_NEW_TOKENS": "64", "T2L_DEVICE": "cpu", "T2L_HUB_LOGIN": "on"}
    config = AppConfig.from_env(env)
    assert (config.t2l_model, config.max_new_tokens, config.device, config.hub_login) == ("me/t2l", 64, "cpu", "on")
    assert config.push_enabled
    flags = {"max_new_tokens": 16, "tiny": True, "device": None}
    assert AppConfig.from_flags(flags, env).max_new_tokens == 16
    assert AppConfig.from_env({}).t2l_model == "default"
    assert AppConfig.from_env({}).base_model == peft_t2l.DEFAULT_BASE_MODEL


@pytest.mark.parametrize(
    "kwargs, field",
    [({"device": "tpu"}, "device"), ({"dtype": "int8"}, "dtype"), ({"max_new_tokens": 0}, "max_new_tokens")],
)
def test_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ValueError, match=f"AppConfig.{field}="):
        AppConfig(**kwargs)
    with pytest.raises(ValueError, match="not an integer"):
        AppConfig.from_env({"T2L_MAX_NEW_TOKENS": "lots"})


# ---- generating adapters -------------------------------------------------------------------------------------------


def test_generate_reports_time_size_and_norms(handlers, models):
    session, status, norms, dropdown = handlers.generate(TASKS[0], Session())
    entry = session.active_entry()
    assert entry.lora.description == TASKS[0]
    assert "Generated in **" in status and " ms**" in status
    assert f"{entry.lora.num_parameters:,} parameters" in status
    cfg = models.t2l.config
    assert len(norms) == cfg.num_layers * len(cfg.target_modules)
    assert set(norms.module) == set(cfg.target_modules) and sorted(set(norms.layer)) == list(range(cfg.num_layers))
    assert (norms.norm > 0).all()
    assert dropdown.value == entry.key and [key for _, key in dropdown.choices] == [entry.key]


def test_weight_norms_are_the_scaled_update_norm(models):
    lora = models.t2l.generate_lora(TASKS[1])
    a = lora.state_dict["base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight"]
    b = lora.state_dict["base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"]
    expected = models.t2l.config.scaling * torch.linalg.matrix_norm(b @ a).item()
    norms = weight_norms(lora).set_index(["module", "layer"]).norm
    assert norms[("v_proj", 1)] == pytest.approx(expected, rel=1e-5)


def test_descriptions_give_different_adapters(handlers):
    session, *_ = handlers.generate(TASKS[0], Session())
    _, _, norms_b, _ = handlers.generate(TASKS[1], session)
    _, _, norms_a = handlers.select(session.choices()[-1][1], session)
    assert not norms_a.norm.equals(norms_b.norm)


@pytest.mark.parametrize(
    "description, message",
    [("", "is empty"), ("   \n ", "is empty"), ("x" * 10_000, "10,000 characters long; the limit is 2,000")],
)
def test_bad_descriptions_are_refused_clearly(handlers, description, message):
    session = Session()
    with pytest.raises(gr.Error, match=message):
        handlers.generate(description, session)
    assert session.active is None


def test_session_keeps_a_bounded_number_of_adapters(handlers):
    session = Session()
    keys = [handlers.generate(f"{task} ({i})", session)[0].active for i, task in enumerate(TASKS + TASKS[:1])]
    assert list(session.adapters) == keys[1:]  # limit 3: the oldest was dropped
    assert [key for _, key in session.choices()] == keys[::-1][:3]
    with pytest.raises(gr.Error, match="not in this session"):
        handlers.select(keys[0], session)


# ---- chatting --------------------------------------------------------------------------------------------------------


def test_chat_streams_adapted_and_base_answers_that_match_plain_generation(handlers, models):
    session, *_ = handlers.generate(TASKS[0], Session())
    updates = list(handlers.chat("Hello there", [], [], session))
    box, adapted, base = updates[0]
    assert box == "" and adapted == base == [{"role": "user", "content": "Hello there"}]
    assert len(updates) > 3  # token by token
    with_adapter, without = answers(updates[-1])
    slot = models.pool.slot_for(session.active, session.active_entry().lora)
    assert with_adapter == reference_answer(models, "Hello there", slot, 10)
    assert without == reference_answer(models, "Hello there", None, 10)
    assert with_adapter != without  # the adapter changes the answer


def test_chat_continues_each_conversation(handlers):
    session, *_ = handlers.generate(TASKS[0], Session())
    _, first = final(handlers.chat("Hi", [], [], session))
    _, second = final(handlers.chat("More", first[1], first[2], session))
    for conversation in (second[1], second[2]):
        assert [m["role"] for m in conversation] == ["user", "assistant", "user", "assistant"]
        assert conversation[2]["content"] == "More"


def test_chat_refuses_bad_messages_and_missing_adapter(handlers):
    with pytest.raises(gr.Error, match="Generate an adapter first"):
        final(handlers.chat("Hello", [], [], Session()))
    session, *_ = handlers.generate(TASKS[0], Session())
    with pytest.raises(gr.Error, match="message is empty"):
        final(handlers.chat("  ", [], [], session))
    with pytest.raises(gr.Error, match="limit is 2,000"):
        final(handlers.chat("y" * 10_000, [], [], session))


def test_switching_adapters_reuses_slots_in_place_and_restores_answers(handlers, models):
    """3 adapters through 2 slots: slots are hot-swapped (same parameters), and an evicted adapter comes back."""
    session = Session()
    said = {}
    for task in TASKS:
        handlers.generate(task, session)
        said[session.active] = answers(final(handlers.chat("Hi", [], [], session))[1])[0]
        if len(said) == 1:
            param = next(p for n, p in models.peft_model.named_parameters() if "lora_A.slot0." in n)
    assert set(models.peft_model.peft_config) == {"slot0", "slot1"}
    assert any(p is param for p in models.peft_model.parameters())  # swapped in place, not re-created
    first = next(iter(said))
    assert first not in models.pool.loaded_keys()  # evicted by the third adapter
    handlers.select(first, session)
    assert answers(final(handlers.chat("Hi", [], [], session))[1])[0] == said[first]
    assert len(set(said.values())) == 3


def test_parallel_chats_of_different_sessions_do_not_mix(models):
    handlers = DemoHandlers(models, AppConfig(max_new_tokens=8))
    sessions = [handlers.generate(task, Session())[0] for task in TASKS]
    alone = [answers(final(handlers.chat("Hi", [], [], s))[1]) for s in sessions]
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(lambda s: answers(final(handlers.chat("Hi", [], [], s))[1]), sessions * 2))
    assert together == alone * 2


def test_leaving_a_stream_frees_the_model(handlers, models):
    session, *_ = handlers.generate(TASKS[0], Session())
    stream = DemoHandlers(models, AppConfig(max_new_tokens=500)).chat("Hello", [], [], session)
    next(stream), next(stream)
    stream.close()  # what Gradio does when the user leaves
    deadline = time.monotonic() + 10
    while models.lock.locked() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not models.lock.locked()


def test_generation_errors_reach_the_user_and_free_the_model(models, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    handlers = DemoHandlers(models, AppConfig())
    session, *_ = handlers.generate(TASKS[0], Session())
    monkeypatch.setattr(models.peft_model, "generate", broken)
    with pytest.raises(gr.Error, match="failed to answer .RuntimeError: out of memory"):
        final(handlers.chat("Hello", [], [], session))
    assert not models.lock.locked()


def test_flatten_history_reads_gradio_content_blocks():
    history = [
        {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]},
        {"role": "assistant", "content": "Hello", "metadata": None},
        {"role": "assistant", "content": [{"type": "file", "file": {"path": "x.png"}}]},
    ]
    assert flatten_history(history) == [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello"},
        {"role": "assistant", "content": ""},
    ]


def test_build_prompt_drops_oldest_turns_to_fit():
    tok = tiny_tokenizer()
    turns = [{"role": r, "content": f"turn {i} " * 10} for i, r in enumerate(["user", "assistant"] * 5)]
    turns.append({"role": "user", "content": "last"})
    full = build_prompt(tok, turns, max_tokens=10_000)
    short = build_prompt(tok, turns, max_tokens=200)
    assert full.startswith("<|im_start|>user\nturn 0") and full.endswith("<|im_start|>assistant\n")
    assert len(tok(short).input_ids) <= 200 < len(tok(full).input_ids)
    assert short.startswith("<|im_start|>user\n") and "last" in short
    assert build_prompt(tok, turns[-1:], max_tokens=1).endswith("last<|im_end|>\n<|im_start|>assistant\n")


# ---- download and push -------------------------------------------------------------------------------------------


def test_download_is_a_plain_peft_folder(handlers, models, tmp_path):
    session, *_ = handlers.generate(TASKS[0], Session())
    archive = Path(handlers.download(session))
    with zipfile.ZipFile(archive) as z:
        z.extractall(tmp_path)
    folder = tmp_path / f"t2l-adapter-{session.active}"
    assert {p.name for p in folder.iterdir()} >= {"adapter_config.json", "adapter_model.safetensors", "README.md"}
    fresh = LlamaForCausalLM(models.peft_model.get_base_model().config)
    loaded = PeftModel.from_pretrained(fresh, str(folder))
    lora = session.active_entry().lora
    key = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
    torch.testing.assert_close(loaded.state_dict()[key.replace("lora_A.", "lora_A.default.")], lora.state_dict[key])


def _visitor(name: str = "me", token: str = "hf_visitor"):
    profile = gr.OAuthProfile({"preferred_username": name, "name": name, "profile": "", "picture": ""})
    return profile, gr.OAuthToken(token=token, scope="contribute-repos", expires_at=0)


def test_push_needs_sign_in_and_a_name(models, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_owner")  # the Space's own secret: must never be used for a visitor
    session, *_ = DemoHandlers(models, AppConfig()).generate(TASKS[0], Session())
    with pytest.raises(gr.Error, match="off on this Space"):
        DemoHandlers(models, AppConfig(hub_login="off")).push("x", True, session, *_visitor())
    handlers = DemoHandlers(models, AppConfig(hub_login="on"))
    with pytest.raises(gr.Error, match="Sign in"):
        handlers.push("x", True, session, None, None)
    with pytest.raises(gr.Error, match="not a repository name"):
        handlers.push("no spaces", True, session, *_visitor())
    with pytest.raises(gr.Error, match="your own account"):
        handlers.push("someone-else/x", True, session, *_visitor())
    calls = []
    monkeypatch.setattr(peft_t2l.GeneratedLoRA, "push_to_hub", lambda self, repo, **kw: calls.append((repo, kw)))
    assert "huggingface.co/me/x" in handlers.push(" x ", False, session, *_visitor())
    assert "huggingface.co/me/y" in handlers.push("me/y", True, session, *_visitor())
    assert calls == [
        ("me/x", {"token": "hf_visitor", "private": False}),
        ("me/y", {"token": "hf_visitor", "private": True}),
    ]


def test_push_failures_are_shown(models, monkeypatch):
    def offline(self, repo, **kw):
        raise OSError("no network")

    monkeypatch.setattr(peft_t2l.GeneratedLoRA, "push_to_hub", offline)
    handlers = DemoHandlers(models, AppConfig(hub_login="on"))
    session, *_ = handlers.generate(TASKS[0], Session())
    with pytest.raises(gr.Error, match="Push to me/x failed: no network"):
        handlers.push("x", True, session, *_visitor())


# ---- loading and the page ----------------------------------------------------------------------------------------


def test_missing_default_falls_back_to_an_untrained_t2l(monkeypatch):
    tiny = tiny_models()
    base, tokenizer = tiny.peft_model.unload(), tiny.tokenizer
    asked = {}

    def fake_load_base_model(name, *, dtype=None, device=None):
        asked.update(name=name, dtype=dtype, device=device)
        return base, tokenizer

    def no_t2l(name, **kwargs):
        raise FileNotFoundError(f"no T2L model at {name}")

    def untrained_t2l(base_model, **kwargs):
        return tiny.t2l  # the real fallback builds a MiniLM-reading T2L; the tiny one stands in for it

    monkeypatch.setattr(peft_t2l, "load_base_model", fake_load_base_model)
    monkeypatch.setattr(peft_t2l, "load_t2l_model", no_t2l)
    monkeypatch.setattr(runtime.T2LModel, "from_base_model", untrained_t2l)
    models = runtime.load_models(AppConfig(device="cpu", base_model="tiny/base"))
    assert models.untrained and models.t2l is tiny.t2l
    assert asked == {"name": "tiny/base", "dtype": torch.float32, "device": "cpu"}
    with pytest.raises(FileNotFoundError, match="/nonexistent/t2l"):  # only the default may fall back
        runtime.load_models(AppConfig(device="cpu", t2l_model="/nonexistent/t2l"))


def test_page_has_banner_and_named_endpoints(models):
    demo = build_demo(models, AppConfig())
    ids = {c.get("props", {}).get("elem_id") for c in demo.config["components"]}
    assert {"untrained-banner", "description", "generate", "message", "send", "adapted-chat", "base-chat"} <= ids
    apis = {d.get("api_name") for d in demo.config["dependencies"]}
    assert {"generate", "chat", "select", "download", "push"} <= apis
    models.untrained = False
    try:
        ids = {c.get("props", {}).get("elem_id") for c in build_demo(models, AppConfig()).config["components"]}
    finally:
        models.untrained = True
    assert "untrained-banner" not in ids


def test_app_main_serves_the_tiny_models_with_flags(monkeypatch):
    spec = importlib.util.spec_from_file_location("t2l_space_app", SPACE / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    launched = {}

    def fake_launch(demo, **kwargs):
        launched.update(kwargs, demo=demo)

    monkeypatch.setattr(gr.Blocks, "launch", fake_launch)
    monkeypatch.setenv("T2L_MAX_NEW_TOKENS", "99")
    app.main(["--tiny", "--port", "7999", "--host", "127.0.0.1", "--loaded-adapters", "3"])
    assert launched["server_port"] == 7999 and launched["server_name"] == "127.0.0.1"
    page = str(launched["demo"].config)
    assert "tiny-random-llama" in page and "answers up to 99 tokens" in page


# ---- the Space's own files -----------------------------------------------------------------------------------------


def test_readme_has_the_spaces_header_and_documents_every_setting():
    readme = (SPACE / "README.md").read_text()
    _, header, body = readme.split("---", 2)
    meta = yaml.safe_load(header)
    assert meta["sdk"] == "gradio" and (SPACE / meta["app_file"]).is_file()
    assert meta["sdk_version"].split(".")[0] == gr.__version__.split(".")[0]  # the Space runs what CI tested
    assert len(meta["short_description"]) <= 60  # the Hub's limit
    for f in fields(AppConfig):
        assert f"`{f.metadata['env']}`" in body, f"README.md does not document {f.metadata['env']}"


def test_requirements_cover_every_third_party_import():
    required = {line.split(">")[0].split("=")[0].strip().replace("-", "_") for line in
                (SPACE / "requirements.txt").read_text().splitlines() if line.strip() and not line.startswith("#")}  # fmt: skip
    provided = {"gradio", "peft_t2l", "t2l_demo", "tokenizers"}  # the SDK, the copied package, ours, transformers'
    imported = set()
    for path in SPACE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    missing = imported - set(sys.stdlib_module_names) - provided - required
    assert not missing, f"space/requirements.txt lacks {sorted(missing)}"
