"""Training configs: YAML + key=value overrides, typed coercion, clear errors, and the `train` CLI's exit codes."""

from __future__ import annotations

import argparse

import pytest
import yaml

from peft_t2l.training.cli import add_train_parser, main
from peft_t2l.training.config import LoraTrainConfig, ReconConfig, SFTConfig, config_to_dict, load_config


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
