"""`t2l train sft|recon|lora --config file.yaml key=value ...`, `t2l train average`: argument parsing only.

Exit codes: 0 on success, 2 on a bad config (the message names the field, the value and the fix).
Also runnable alone: `python -m peft_t2l.training.cli train sft --config configs/sft_smollm2_sni.yaml`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import yaml

from .config import (
    FIELD_ALIASES,
    LoraTrainConfig,
    ReconConfig,
    RenamedFieldWarning,
    SFTConfig,
    config_to_dict,
    load_config,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_COMMANDS = {
    "sft": (SFTConfig, "train a T2L hypernetwork by SFT through the frozen base model"),
    "recon": (ReconConfig, "train a T2L hypernetwork to reconstruct a library of LoRA folders"),
    "lora": (
        LoraTrainConfig,
        "train plain PEFT LoRAs: one per task (mode=oracle) or one on all tasks (mode=multitask)",
    ),
}


def add_train_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `train sft`, `train recon` and `train lora` to a CLI's sub-commands.

    Args:
        subparsers: the result of `parser.add_subparsers(...)`; each command sets `func(args) -> exit code`.

    Example:
        ```python
        >>> sub = parser.add_subparsers(dest="command")
        >>> add_train_parser(sub)
        ```
    """
    train = subparsers.add_parser("train", help="train a T2L model (sft, recon) or LoRA baselines (lora)")
    commands = train.add_subparsers(dest="train_command", required=True)
    for name, (cls, help_text) in _COMMANDS.items():
        p = commands.add_parser(name, help=help_text, description=f"{help_text}. Fields: {_field_list(cls)}")
        p.add_argument("--config", default=None, help="YAML file with the config fields")
        p.add_argument("overrides", nargs="*", metavar="key=value", help="override config fields (YAML values)")
        p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
        p.set_defaults(func=run_train, train_config_cls=cls)
    p = commands.add_parser(
        "average",
        help="average the weights of trained T2L models of one architecture (a model soup)",
        description="Average the weights of two or more saved T2L models of one architecture into a new model "
        "folder, e.g. runs continued from one model, or seeds of one recipe (each a run's model/ folder).",
    )
    p.add_argument("models", nargs="+", help="two or more T2L model folders")
    p.add_argument("--weights", type=float, nargs="+", default=None, help="one weight per model (default: equal)")
    p.add_argument("--out", required=True, help="folder to write the averaged T2L model to")
    p.add_argument("--overwrite", action="store_true", help="allow replacing an existing T2L model folder")
    p.set_defaults(func=run_average)
    return train


def run_average(args: argparse.Namespace) -> int:
    """`t2l train average A B ... --out DIR`: write the weighted mean of the models. Returns the exit code."""
    from ..safe_io import check_output_folder, is_t2l_folder

    try:  # a bad --out or weight list should cost nothing: checked before any model is loaded
        out = check_output_folder(
            args.out, overwrite=args.overwrite, what="T2L model folder", replaceable=is_t2l_folder
        )
        from .average import average_models, normalised_weights
        from .checkpoint import is_checkpoint_folder

        normalised_weights(args.weights, len(args.models))
        for model in args.models:
            if not Path(model).is_dir():
                raise ValueError(f"{model!r} is not a folder; pass saved T2L model folders (each has a config.json).")
            if is_checkpoint_folder(model):
                raise ValueError(f"{model!r} is a training checkpoint (its config.json is the run's, not a model's); "
                                 "pass saved T2L model folders, e.g. the run's model/ folder.")  # fmt: skip
        soup = average_models(args.models, weights=args.weights)
    except (ValueError, OSError) as err:
        print(f"t2l train average: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    soup.save_pretrained(out)
    print(f"T2L model averaged from {len(args.models)} models saved to {out}")
    return EXIT_OK


def run_train(args: argparse.Namespace) -> int:
    """Resolve the config of `args`, then run the matching trainer. Returns the exit code."""
    try:
        config = _resolve(args.train_config_cls, args.config, args.overrides, command=args.train_command)
    except ValueError as err:
        print(f"t2l train {args.train_command}: bad config: {err}", file=sys.stderr)
        return EXIT_USAGE
    if args.print_config:
        print(yaml.safe_dump(config_to_dict(config), sort_keys=False), end="")
        return EXIT_OK
    try:
        check_paths(config)  # before any model is loaded: a wrong path should cost nothing
        message = _train(config)
        if os.environ.get("RANK", "0") == "0":  # under torchrun every process returns here
            print(message)
    except ValueError as err:  # data, library or model that do not fit the config: the message says which
        print(f"t2l train {args.train_command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError) as err:
        print(f"t2l train {args.train_command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:  # e.g. a base model id that is neither a folder nor on the Hub (or the Hub is offline)
        print(f"t2l train {args.train_command}: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except ImportError as err:  # accelerate (and tensorboard) come with the `train` extra
        print(f"t2l train {args.train_command}: error: {err}; install pip install 'peft-t2l[train]'", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def check_paths(config) -> None:
    """Raise a `ValueError` for an `output_dir` that cannot be a folder, or a model path that does not exist.

    Args:
        config: an `SFTConfig`, `ReconConfig` or `LoraTrainConfig`.

    Example:
        ```python
        >>> check_paths(load_config(SFTConfig, "configs/sft_smollm2_sni.yaml", []))
        ```
    """
    from ..defaults import looks_like_a_path

    out = Path(config.output_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"output_dir={config.output_dir!r} is a file; name a folder for the run.")
    parent = out.resolve().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"output_dir={config.output_dir!r} is inside a file ({parent}); name a folder for the run.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"output_dir={config.output_dir!r}: {parent} is not writable; choose another folder.")
    for name in ("base_model", "init_from"):
        value = getattr(config, name, None)
        if isinstance(value, str) and value != "default" and looks_like_a_path(value) and not Path(value).exists():
            raise ValueError(f"{name}={value!r} does not exist; pass an existing folder or a Hub id.")


def _train(config) -> str:
    if isinstance(config, SFTConfig):
        from .sft import train_sft

        return f"T2L model saved to {train_sft(config).model_dir}"
    if isinstance(config, ReconConfig):
        from .recon import train_recon

        return f"T2L model saved to {train_recon(config).model_dir}"
    from .lora import train_lora

    dirs = train_lora(config).adapter_dirs
    return "LoRA adapters saved:\n" + json.dumps({k: str(v) for k, v in dirs.items()}, indent=1)


def main(argv: list[str] | None = None) -> int:
    """Entry point for `python -m peft_t2l.training.cli train ...`."""
    parser = argparse.ArgumentParser(prog="t2l")
    add_train_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def _resolve(cls, path: str | None, overrides: list[str], *, command: str):
    if path is not None and not Path(path).is_file():
        raise ValueError(f"--config {path} does not exist; pass a YAML file (see configs/).")
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RenamedFieldWarning)
            return load_config(cls, path, overrides)
    except yaml.YAMLError as err:
        raise ValueError(f"--config {path} is not valid YAML: {err}") from err
    finally:  # Python hides DeprecationWarnings outside __main__: an old field name (FIELD_ALIASES) is said here
        for message in dict.fromkeys(str(w.message) for w in caught if w.category is RenamedFieldWarning):
            print(f"t2l train {command}: warning: {message}", file=sys.stderr)
        for w in caught:  # any other warning goes on as if it had not been caught
            if w.category is not RenamedFieldWarning:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _field_list(cls) -> str:
    import dataclasses

    names = [f.name for f in dataclasses.fields(cls)]
    old = [f"{alias} (now {name})" for alias, name in FIELD_ALIASES.items() if name in names]
    return ", ".join(names) + (f". Old names still read: {', '.join(old)}" if old else "")


if __name__ == "__main__":
    sys.exit(main())
