"""Training configs: YAML + key=value overrides, typed coercion, clear errors, and the `train` CLI's exit codes."""

from __future__ import annotations

import argparse
import dataclasses

import pytest
import yaml

from peft_t2l.configuration_t2l import T2LConfig
from peft_t2l.training.cli import add_train_parser, main
from peft_t2l.training.config import (
    FIELD_ALIASES,
    T2L_FIELDS,
    LoraTrainConfig,
    ReconConfig,
    SFTConfig,
    config_from_dict,
    config_to_dict,
    load_config,
)


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "sft.yaml"
    path.write_text(yaml.safe_dump({"output_dir": "runs/a", "max_steps": 10, "learning_rate": 1e-4}))
    config = load_config(
        SFTConfig,
        path,
        ["max_steps=20", "learning_rate=1", "target_modules=q_proj,k_proj", "tasks=[a, b]", "resume=true"],
    )
    assert config.max_steps == 20 and config.learning_rate == 1.0 and isinstance(config.learning_rate, float)
    assert config.target_modules == ["q_proj", "k_proj"] and config.tasks == ["a", "b"] and config.resume is True
    assert load_config(SFTConfig, path, ["init_from=null"]).init_from is None
    assert config_to_dict(config)["output_dir"] == "runs/a"


@pytest.mark.parametrize(
    ("cls", "overrides", "message"),
    [
        (SFTConfig, ["learning_rate=0"], "SFTConfig.learning_rate=0.0 is invalid"),
        (SFTConfig, ["head=XL"], "use one of ('L', 'M', 'S')"),
        (SFTConfig, ["latent_size=30"], "multiple of 4"),
        (SFTConfig, ["label_smoothing=1.5"], "label_smoothing=1.5"),
        (SFTConfig, ["max_steps=ten"], "max_steps='ten' is a str; expected int"),
        (SFTConfig, ["resume=maybe"], "resume='maybe' is a str; expected bool"),
        (SFTConfig, ["lr=1e-4"], "has no field(s) ['lr']"),
        (SFTConfig, ["mixed_precision=fp8"], "mixed_precision='fp8'"),
        (LoraTrainConfig, ["mode=both"], "use one of ('oracle', 'multitask')"),
        (ReconConfig, ["library=lib", "loss_on=cosine"], "loss_on='cosine'"),
    ],
)
def test_bad_values_name_the_field_and_the_fix(cls, overrides, message):
    with pytest.raises(ValueError) as err:
        load_config(cls, None, ["output_dir=runs/x", *overrides])
    assert message in str(err.value)


def test_missing_output_dir_and_malformed_override():
    with pytest.raises(ValueError, match=r"needs \['output_dir'\]"):
        load_config(SFTConfig, None, ["max_steps=3"])
    with pytest.raises(ValueError, match="not key=value"):
        load_config(SFTConfig, None, ["output_dir"])


def test_cli_exit_codes_and_messages(tmp_path, capsys):
    assert main(["train", "sft", "output_dir=x", "warmup_steps=-1"]) == 2
    assert "bad config: SFTConfig.warmup_steps=-1" in capsys.readouterr().err
    assert main(["train", "recon", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("output_dir: [unclosed")
    assert main(["train", "lora", "--config", str(tmp_path / "bad.yaml")]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert main(["train", "lora", "output_dir=x", "data=" + str(tmp_path / "none"), "base_model=x"]) == 2
    assert "neither a folder" in capsys.readouterr().err  # errors while loading data exit 2 too

    assert main(["train", "lora", "output_dir=runs/y", "mode=multitask", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["mode"] == "multitask" and printed["output_dir"] == "runs/y"


def test_add_train_parser_plugs_into_a_host_cli():
    parser = argparse.ArgumentParser(prog="t2l")
    add_train_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", "sft", "--config", "c.yaml", "max_steps=5"])
    assert args.train_command == "sft" and args.config == "c.yaml" and args.overrides == ["max_steps=5"]
    assert callable(args.func)


def test_scientific_notation_without_a_dot_is_a_float(tmp_path):
    # YAML 1.1 reads "3e-4" as a string; the config must still take it as the float everyone means
    (tmp_path / "c.yaml").write_text("output_dir: runs/x\nlearning_rate: 1e-3\n")
    config = load_config(SFTConfig, tmp_path / "c.yaml", ["l2_reg_generated_w=5e-4"])
    assert config.learning_rate == 1e-3 and config.l2_reg_generated_w == 5e-4
    with pytest.raises(ValueError, match=r"learning_rate='fast' is a str; expected float"):
        load_config(SFTConfig, None, ["output_dir=runs/x", "learning_rate=fast"])


# ---- the hypernetwork fields are T2LConfig's ---------------------------------------------------------------------

REQUIRED = {SFTConfig: {"output_dir": "runs/x"}, ReconConfig: {"output_dir": "runs/x", "library": "lib", "data": "d"}}


@pytest.mark.parametrize(
    "t2l_kwargs",
    [
        {"latent_size": 30},
        {"head": "XL"},
        {"dropout": 1.5},
        {"lora_rank": 0},
        {"lora_rank": 1000},
        {"lora_alpha": -1.0},
        {"target_modules": ["q_proj", "q_proj"]},
        {"encoder_type": "bag-of-words"},
        {"encoder_name_or_path": None},
    ],
)
@pytest.mark.parametrize("cls", [SFTConfig, ReconConfig])
def test_bad_hypernet_values_raise_t2lconfigs_message(cls, t2l_kwargs):
    with pytest.raises(ValueError) as expected:
        T2LConfig(**t2l_kwargs)
    with pytest.raises(ValueError) as got:
        config_from_dict(cls, {**REQUIRED[cls], **t2l_kwargs})
    assert str(got.value) == str(expected.value)


def test_hypernet_fields_have_t2lconfigs_names_types_and_defaults():
    t2l = {f.name: f for f in dataclasses.fields(T2LConfig)}
    ours = {f.name: f for f in dataclasses.fields(SFTConfig)}
    assert set(T2L_FIELDS) >= {"head", "latent_size", "head_in_size", "dropout", "lora_rank", "lora_alpha"}
    assert set(T2L_FIELDS) >= {"target_modules", "encoder_type", "encoder_name_or_path"}
    defaults = config_from_dict(SFTConfig, {"output_dir": "runs/x"}).t2l_fields()
    for name in T2L_FIELDS:
        assert ours[name].type == t2l[name].type, name  # both modules use postponed (string) annotations
        assert defaults[name] == getattr(T2LConfig(), name), name
    assert not set(FIELD_ALIASES) & set(ours)  # an old name is never also a field


def test_every_t2lconfig_field_has_help_and_training_reuses_it():
    t2l = {f.name: f for f in dataclasses.fields(T2LConfig) if f.name in T2LConfig.__annotations__}
    assert all(f.metadata.get("help") for f in t2l.values()), [n for n, f in t2l.items() if not f.metadata.get("help")]
    ours = {f.name: f for f in dataclasses.fields(SFTConfig)}
    assert set(T2L_FIELDS) >= {"rank_embedding", "head_use_bias", "lora_dropout", "use_rslora", "encoder_max_length"}
    same = [n for n in T2L_FIELDS if ours[n].metadata["help"] == t2l[n].metadata["help"]]
    assert len(same) >= len(T2L_FIELDS) - 2  # training words dropout and lora_dropout its own way
    config = config_from_dict(SFTConfig, {"output_dir": "runs/x", "head": "S", "rank_embedding": "rotary"})
    assert config.t2l_fields()["rank_embedding"] == "rotary"
    with pytest.raises(ValueError, match="rank_embedding"):
        config_from_dict(SFTConfig, {"output_dir": "runs/x", "head": "S", "rank_embedding": "sinusoid"})


def test_old_field_names_still_load_with_a_deprecation_warning(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("output_dir: runs/x\nhypernet_dropout: 0.2\n")
    with pytest.warns(DeprecationWarning, match="'hypernet_dropout' is now 'dropout'"):
        config = load_config(SFTConfig, path)
    assert config.dropout == 0.2 and "hypernet_dropout" not in config_to_dict(config)
    with pytest.warns(DeprecationWarning):
        assert config.hypernet_dropout == 0.2  # the old attribute reads the new field
    with pytest.warns(DeprecationWarning):  # an override under either name replaces the file's value
        assert load_config(SFTConfig, path, ["dropout=0.3"]).dropout == 0.3
        assert (
            load_config(ReconConfig, None, ["output_dir=x", "library=l", "data=d", "hypernet_dropout=0.1"]).dropout
            == 0.1
        )
        with pytest.raises(ValueError, match=r"T2LConfig.dropout=1.5 is invalid"):
            load_config(SFTConfig, path, ["hypernet_dropout=1.5"])
        with pytest.raises(ValueError, match="set the same field .* keep only dropout"):
            config_from_dict(SFTConfig, {"output_dir": "x", "dropout": 0.1, "hypernet_dropout": 0.2})
    with pytest.raises(ValueError, match=r"has no field\(s\) \['hypernet_dropout'\]"):
        load_config(LoraTrainConfig, None, ["output_dir=x", "hypernet_dropout=0.1"])  # no T2L fields there


def test_cli_says_when_a_config_uses_an_old_name(tmp_path, capsys):
    (tmp_path / "old.yaml").write_text("output_dir: runs/x\nhypernet_dropout: 0.2\n")
    assert main(["train", "sft", "--config", str(tmp_path / "old.yaml"), "--print-config"]) == 0
    out, err = capsys.readouterr()
    assert yaml.safe_load(out)["dropout"] == 0.2
    assert err.count("warning: SFTConfig field 'hypernet_dropout' is now 'dropout'") == 1


def test_one_hot_needs_no_encoder_and_records_none():
    config = config_from_dict(SFTConfig, {"output_dir": "x", "encoder_type": "one_hot", "encoder_name_or_path": None})
    assert config.t2l_fields()["encoder_name_or_path"] is None
    assert (
        config_from_dict(SFTConfig, {"output_dir": "x", "encoder_type": "one_hot"}).t2l_fields()[
            "encoder_name_or_path"
        ]
        is None
    )
