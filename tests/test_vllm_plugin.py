"""The vLLM plugin's own logic, without vLLM: settings, name parsing, the disk cache, the resolver, `t2l serve`."""

import json
import sys
import time
from pathlib import Path

import pytest
from conftest import make_tiny_llama, make_tiny_t2l

from peft_t2l.defaults import resolve
from peft_t2l.vllm_plugin import DescriptionRequestError, DescriptionResolver, ResolverSettings, parse_model_name
from peft_t2l.vllm_plugin.cache import AdapterStore, ServedViews, adapter_key
from peft_t2l.vllm_plugin.cli import ServeOptions, lora_rank_limit
from peft_t2l.vllm_plugin.resolver import base_models_match

# ---- settings ---------------------------------------------------------------------------------------------------


def test_settings_from_env_and_file(tmp_path):
    config = tmp_path / "t2l.yaml"
    config.write_text("max_adapters: 5\ndevice: cuda:1\nextra_models: {math: /models/math-t2l}\n")
    env = {"T2L_VLLM_CONFIG": str(config), "T2L_VLLM_MAX_ADAPTERS": "7", "T2L_VLLM_CACHE_DIR": str(tmp_path)}
    settings = ResolverSettings.from_env(env)
    assert settings.max_adapters == 7  # the environment wins over the file
    assert settings.device == "cuda:1"
    assert settings.extra_models == {"math": "/models/math-t2l"}
    assert ResolverSettings.from_env(settings.to_env()) == settings  # what `t2l serve` hands to vLLM round-trips


@pytest.mark.parametrize(
    "env, words",
    [
        ({"T2L_VLLM_MAX_ADAPTERS": "0"}, ["T2L_VLLM_MAX_ADAPTERS", "at least 1"]),
        ({"T2L_VLLM_MAX_ADAPTERS": "many"}, ["T2L_VLLM_MAX_ADAPTERS", "'many'", "whole number"]),
        ({"T2L_VLLM_PREFIX": "t2l:"}, ["T2L_VLLM_PREFIX", "letters"]),
        ({"T2L_VLLM_EXTRA_MODELS": "math"}, ["T2L_VLLM_EXTRA_MODELS", "name=folder"]),
        ({"T2L_VLLM_RETIRE_SECONDS": "-1"}, ["T2L_VLLM_RETIRE_SECONDS", ">= 0"]),
        ({"T2L_VLLM_CONFIG": "/nonexistent/t2l.yaml"}, ["/nonexistent/t2l.yaml", "not a file"]),
    ],
)
def test_bad_settings_name_the_variable_and_the_fix(env, words):
    with pytest.raises(ValueError) as err:
        ResolverSettings.from_env(env)
    for word in words:
        assert word in str(err.value)


def test_settings_file_with_an_unknown_key_is_refused(tmp_path):
    config = tmp_path / "t2l.json"
    config.write_text(json.dumps({"max_adapter": 3}))
    with pytest.raises(ValueError, match="unknown settings \\['max_adapter'\\]"):
        ResolverSettings.from_env({"T2L_VLLM_CONFIG": str(config)})


# ---- names ------------------------------------------------------------------------------------------------------


def test_parse_model_name():
    assert parse_model_name("t2l:  Translate English to French. ").description == "Translate English to French."
    assert parse_model_name("t2l:a: b").description == "a: b"  # only the first colon is the scheme's
    assert parse_model_name("t2l@math:Solve it.").model == "math"
    assert parse_model_name("HuggingFaceTB/SmolLM2-135M-Instruct") is None
    assert parse_model_name("my-lora") is None
    assert parse_model_name("task:do it", prefix="task").description == "do it"


@pytest.mark.parametrize(
    "name, words",
    [
        ("t2l:", ["empty description", "t2l:Classify"]),
        ("t2l:   ", ["empty description"]),
        ("t2l:" + "x" * 2001, ["2,001 characters", "limit is 2,000", "T2L_VLLM_MAX_DESCRIPTION_CHARS"]),
        ("t2l@:do it", ["t2l@<t2l model name>:<description>"]),
        ("t2l@math", ["has no '<name>:'"]),
        ("t2l:bad \udcff text", ["not valid Unicode"]),
    ],
)
def test_bad_description_names_are_request_errors(name, words):
    with pytest.raises(DescriptionRequestError) as err:
        parse_model_name(name)
    assert isinstance(err.value, ValueError)
    for word in words:
        assert word in str(err.value)
    assert len(str(err.value)) < 400  # an over-long name is not echoed back whole


# ---- the disk cache ---------------------------------------------------------------------------------------------


def _write_adapter(folder: Path, marker: str = "w") -> None:
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_model.safetensors").write_text(marker)


def test_adapter_key_depends_on_model_and_description():
    assert adapter_key("m1", "a") == adapter_key("m1", "a")
    assert len({adapter_key("m1", "a"), adapter_key("m2", "a"), adapter_key("m1", "b")}) == 3


def test_store_put_get_and_lru_eviction(tmp_path):
    store = AdapterStore(tmp_path, max_adapters=2)
    assert store.get("k1") is None
    for key in ("k1", "k2"):
        store.put(key, _write_adapter)
        time.sleep(0.01)  # distinct mtimes: eviction order is last use
    assert store.get("k1") is not None  # k1 is now the most recently used
    time.sleep(0.01)
    store.put("k3", _write_adapter)
    assert sorted(store.keys()) == ["k1", "k3"] and store.evictions == 1
    assert not [p for p in store.folder.iterdir() if p.name.startswith(".")]  # no temp or trash folders left


def test_store_keeps_the_first_of_two_racing_writers(tmp_path):
    store = AdapterStore(tmp_path, max_adapters=4)

    def slow_writer(folder):
        _write_adapter(folder, "second")
        AdapterStore(tmp_path, max_adapters=4).put("k", lambda f: _write_adapter(f, "first"))  # another replica

    path = store.put("k", slow_writer)
    assert (path / "adapter_model.safetensors").read_text() == "first"
    assert store.keys() == ["k"]


def test_store_refuses_an_incomplete_adapter(tmp_path):
    store = AdapterStore(tmp_path, max_adapters=2)
    with pytest.raises(ValueError, match="lacks"):
        store.put("k", lambda folder: folder.mkdir())
    assert store.keys() == []


def test_served_views_forget_the_oldest_and_delete_after_the_grace_period(tmp_path):
    store = AdapterStore(tmp_path, max_adapters=8)
    forgotten = []
    views = ServedViews(tmp_path, max_adapters=2, forget=forgotten.append, retire_seconds=60)
    paths = {}
    for name in ("a", "b", "c"):
        paths[name], _ = views.add(name, store.put(name, _write_adapter))
    assert forgotten == ["a"] and "a" not in views and len(views) == 2
    assert paths["a"].exists()  # a request scheduled before the eviction may still load it
    store.evict()
    store.max_adapters = 1
    store.evict()  # the store evicting its copy does not touch the server's
    assert (paths["b"] / "adapter_model.safetensors").read_text() == "w"
    assert views.purge(now=time.monotonic() + 61) == 1
    assert not paths["a"].exists() and paths["b"].exists()


def test_served_views_remove_copies_of_dead_servers_only(tmp_path):
    import socket

    dead = tmp_path / "served" / f"{socket.gethostname()}-999999999-abc123"
    other_host = tmp_path / "served" / "another-host-1-abc123"
    for folder in (dead, other_host):
        folder.mkdir(parents=True)
    ServedViews(tmp_path, max_adapters=2)
    assert not dead.exists() and other_host.exists()


# ---- the resolver -----------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_resolver(tmp_path):
    t2l = make_tiny_t2l(make_tiny_llama())
    t2l.config.base_model_name_or_path = "tiny/base"
    settings = ResolverSettings(t2l_model="tiny", cache_dir=str(tmp_path), max_adapters=2, retire_seconds=0)
    forgotten: list[str] = []
    resolver = DescriptionResolver(settings, forget=forgotten.append, models={"tiny": t2l})
    resolver.forgotten = forgotten
    return resolver


def test_resolver_generates_once_then_hits_the_store(tiny_resolver, tmp_path):
    first = tiny_resolver.resolve("tiny/base", "t2l:Translate to French.")
    config = json.loads((first.path / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and not first.cache_hit
    # a second server (or this one after vLLM forgot the name) finds it in the store
    again = DescriptionResolver(tiny_resolver.settings, models={"tiny": tiny_resolver._models["tiny"][0]})
    second = again.resolve("tiny/base", "t2l:Translate to French.")
    assert second.cache_hit and again.stats.generated == 0
    assert second.path != first.path  # each server has its own copy
    assert (second.path / "adapter_model.safetensors").read_bytes() == (
        first.path / "adapter_model.safetensors"
    ).read_bytes()
    stats = json.loads((tiny_resolver.views.folder / "stats.json").read_text())
    assert stats["misses"] == 1 and stats["generated"] == 1


def test_resolver_bound_forgets_and_evicts(tiny_resolver):
    for text in ("one", "two", "three"):
        tiny_resolver.resolve("tiny/base", f"t2l:Task {text}.")
    assert tiny_resolver.forgotten == ["t2l:Task one."]
    assert len(tiny_resolver.store.keys()) == 2 and tiny_resolver.stats.store_evictions == 1
    again = tiny_resolver.resolve("tiny/base", "t2l:Task one.")
    assert not again.cache_hit and tiny_resolver.stats.generated == 4  # evicted: written again


def test_resolver_ignores_names_that_are_not_descriptions(tiny_resolver):
    assert tiny_resolver.resolve("tiny/base", "some-published-lora") is None
    assert tiny_resolver.stats.misses == 0


def test_resolver_refuses_a_t2l_for_another_base_model(tiny_resolver):
    with pytest.raises(DescriptionRequestError) as err:
        tiny_resolver.resolve("HuggingFaceTB/SmolLM2-360M-Instruct", "t2l:Translate to French.")
    message = str(err.value)
    assert "'tiny/base'" in message and "SmolLM2-360M-Instruct" in message and "t2l serve --model tiny" in message
    assert tiny_resolver.stats.generated == 0


@pytest.mark.real
def test_resolver_checks_the_base_model_before_loading_weights(tmp_path):
    # the embedded default's config says SmolLM2-135M; a mismatch is found from config.json alone
    resolver = DescriptionResolver(ResolverSettings(cache_dir=str(tmp_path)))
    with pytest.raises(DescriptionRequestError, match="writes adapters for 'HuggingFaceTB/SmolLM2-135M-Instruct'"):
        resolver.resolve("Qwen/Qwen3-0.6B", "t2l:Translate to French.")
    assert resolver._models == {}


def test_resolver_names_unknown_extra_models(tiny_resolver):
    with pytest.raises(DescriptionRequestError, match="No T2L model is named 'math'.*T2L_VLLM_EXTRA_MODELS=math="):
        tiny_resolver.resolve("tiny/base", "t2l@math:Solve it.")


def test_base_models_match_declared_id_and_offline_copy():
    assert base_models_match("org/base", "/models/base", declared="org/base")
    assert not base_models_match("org/base", "/models/base")
    assert not base_models_match("org/base", "org/other", declared="org/other")


# ---- t2l serve --------------------------------------------------------------------------------------------------


def test_lora_rank_limit():
    assert [lora_rank_limit(r) for r in (1, 2, 8, 9, 16, 300)] == [1, 8, 8, 16, 16, 320]
    with pytest.raises(ValueError, match="largest --max-lora-rank"):
        lora_rank_limit(1024)


@pytest.mark.real
def test_serve_command_derives_limits_and_passes_flags_through(tmp_path, monkeypatch):
    monkeypatch.delenv("VLLM_PLUGINS", raising=False)
    options = ServeOptions(cache_dir=str(tmp_path), vllm_args=["--max-loras", "4", "--dtype=float32"])
    argv, env = options.command()
    assert argv[3] == "serve" and argv[4] == resolve("HuggingFaceTB/SmolLM2-135M-Instruct")  # the offline copy
    assert "--enable-lora" in argv
    assert argv[argv.index("--max-lora-rank") + 1] == "8"  # the default T2L writes rank-8 LoRAs
    assert argv.count("--max-loras") == 1 and argv[argv.index("--max-loras") + 1] == "4"  # the user's flag wins
    assert argv[argv.index("--served-model-name") + 1] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert argv[-1] == "--dtype=float32"
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True" and env["VLLM_PLUGINS"] == "peft_t2l"
    assert ResolverSettings.from_env(env).cache_dir == str(tmp_path)
    assert env["T2L_VLLM_SERVED_BASE_MODEL"] == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_serve_parser_is_generated_from_serve_options():
    import argparse
    import dataclasses

    from peft_t2l.options import options_from_args
    from peft_t2l.vllm_plugin.cli import add_serve_parser

    parser = argparse.ArgumentParser(prog="t2l")
    sub = parser.add_subparsers(dest="command")
    add_serve_parser(sub)
    text = " ".join(sub.choices["serve"].format_help().split())
    for f in dataclasses.fields(ServeOptions):  # every field is an option, with its help
        flag = f.name if f.metadata.get("positional") else "--" + f.name.replace("_", "-")
        assert flag in text and " ".join(f.metadata["help"].split()) in text, f.name
    assert options_from_args(ServeOptions, parser.parse_args(["serve"])) == ServeOptions()
    args = parser.parse_args(["serve", "--port", "9000", "--max-adapters", "3", "--dry-run", "--", "--dtype", "half"])
    assert options_from_args(ServeOptions, args) == ServeOptions(
        port=9000, max_adapters=3, dry_run=True, vllm_args=["--dtype", "half"]
    )


@pytest.mark.real
def test_serve_dry_run_prints_the_command_and_starts_nothing(tmp_path, monkeypatch, capsys):
    from peft_t2l.cli import main

    monkeypatch.setenv("T2L_VLLM_CACHE_DIR", str(tmp_path))
    assert main(["serve", "--dry-run", "--port", "9001", "--", "--max-loras", "3"]) == 0
    env_line, command = capsys.readouterr().out.splitlines()
    assert f"T2L_VLLM_CACHE_DIR={tmp_path}" in env_line
    assert "--port 9001" in command and command.endswith("--max-loras 3") and command.count("--max-loras") == 1


@pytest.mark.real
def test_t2l_serve_without_vllm_names_the_venv(tmp_path, monkeypatch, capsys):
    import importlib.util

    from peft_t2l.cli import main

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real_find_spec(name, *a)
    )
    monkeypatch.setenv("T2L_VLLM_CACHE_DIR", str(tmp_path))
    assert main(["serve"]) != 0
    err = capsys.readouterr().err
    assert "scripts/setup.sh --vllm" in err and ".venv-vllm/bin/t2l serve" in err
    assert "Traceback" not in err


def test_the_package_and_the_cli_import_without_vllm():
    import peft_t2l.vllm_plugin.cli
    from peft_t2l.cli import build_parser

    assert "serve" in build_parser().format_help()
    assert "vllm" not in sys.modules  # only the plugin entry point and `t2l serve`'s child process import it
    assert peft_t2l.vllm_plugin.cli.VLLM_VENV_HINT
