"""`t2l`: the command line. Argument parsing only; every command calls the library.

t2l generate "solve grade-school math" --model default --out math-lora
t2l demo "answer with the capital of the given country" --prompt "France"
t2l info math-lora
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CLIError(Exception):
    """An error the user can fix; printed without a traceback."""


def _check_out(out: str, overwrite: bool) -> Path:
    """Refuse a bad --out before any model is loaded, so a mistake costs nothing."""
    from .safe_io import check_output_folder, is_adapter_folder

    return check_output_folder(out, overwrite=overwrite, what="adapter folder", replaceable=is_adapter_folder)


def cmd_generate(args: argparse.Namespace) -> int:
    out = _check_out(args.out, args.overwrite)
    t2l = _load(args.model)
    lora = t2l.generate_lora(args.description)
    lora.save_pretrained(out, overwrite=args.overwrite)
    print(f"Wrote a rank-{lora.lora_config.r} LoRA ({lora.num_parameters:,} parameters) for "
          f"{lora.lora_config.base_model_name_or_path} to {out}")  # fmt: skip
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Description -> adapter -> answers of the base and the adapted model, side by side."""
    import time

    from .defaults import load_base_model
    from .generation import generate_chat

    if args.out is not None:
        _check_out(args.out, args.overwrite)
    t2l = _load(args.model)
    base, tokenizer = load_base_model(t2l.config.base_model_name_or_path)
    t2l.embed_descriptions("load the text encoder")  # so the timing below is the adapter's, not a one-off load
    start = time.perf_counter()
    lora = t2l.generate_lora(args.description)
    took = time.perf_counter() - start
    peft_model = lora.to_peft_model(base)

    def answer() -> str:
        return generate_chat(
            peft_model, tokenizer, [args.prompt], max_new_tokens=args.max_new_tokens, do_sample=False
        )[0].strip()

    adapted = answer()
    with peft_model.disable_adapter():
        plain = answer()
    print(f"description : {args.description}")
    print(
        f"adapter     : rank {lora.lora_config.r}, {lora.num_parameters:,} parameters, generated in {took * 1000:.0f} ms"
    )
    print(f"prompt      : {args.prompt}")
    print(f"base model  : {plain}")
    print(f"with adapter: {adapted}")
    strengths = measured_strengths(t2l.config.training_summary)
    if strengths:
        print(f"measured    : {strengths}")
    if args.out is not None:
        lora.save_pretrained(args.out, overwrite=args.overwrite)
        print(f"adapter saved to {args.out}")
    return EXIT_OK


def measured_strengths(summary: dict | None, *, top: int = 3) -> str | None:
    """One line on which task families the model was measured to help on unseen tasks, and where it does not.

    Reads `summary["unseen_tasks"]` (task -> `{"t2l", "base", "categories"}`, ROUGE-L per task, written by
    `scripts/ship_default.py`); `None` when the model carries no such record.

    Args:
        summary: a T2L config's `training_summary`.
        top: how many families to name.

    Example:
        ```python
        >>> measured_strengths({"unseen_tasks": {"task202_mnli": {"t2l": 61.0, "base": 2.0, "categories": ["NLI"]}}})
        'on unseen SNI tasks (ROUGE-L, adapter vs base): best at NLI (task202_mnli 61.0 vs 2.0)'
        ```
    """
    tasks = (summary or {}).get("unseen_tasks") or {}
    if not tasks:
        return None
    gains = sorted(tasks.items(), key=lambda item: item[1]["base"] - item[1]["t2l"])  # largest gain first

    def family(name: str, scores: dict) -> str:
        numbers = f"{scores['t2l']:.1f} vs {scores['base']:.1f}"
        categories = ", ".join(scores.get("categories") or [])
        return f"{categories} ({name} {numbers})" if categories else f"{name} ({numbers})"

    best = [family(n, s) for n, s in gains[:top] if s["t2l"] > s["base"]]
    worse = [family(n, s) for n, s in gains if s["t2l"] < s["base"] - 3.0]
    line = "on unseen SNI tasks (ROUGE-L, adapter vs base): "
    line += "best at " + "; ".join(best) if best else "no gain over the base model"
    if worse:
        line += "; below base at " + "; ".join(worse)
    return line


def cmd_info(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.is_dir():
        raise CLIError(f"{path} is not a folder; pass a T2L model folder or an adapter folder.")
    if (path / "adapter_config.json").exists():
        from safetensors import SafetensorError, safe_open

        cfg = json.loads((path / "adapter_config.json").read_text())
        weights = path / "adapter_model.safetensors"
        try:
            with safe_open(str(weights), "pt") as f:
                n = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
        except (SafetensorError, FileNotFoundError) as err:
            raise CLIError(f"{weights} is missing, corrupt or truncated ({err}); regenerate the adapter.") from err
        print(f"PEFT adapter ({cfg.get('peft_type')}) for {cfg.get('base_model_name_or_path')}")
        print(f"  rank {cfg.get('r')}, alpha {cfg.get('lora_alpha')}, target modules {cfg.get('target_modules')}")
        print(f"  {n:,} parameters")
        readme = path / "README.md"
        if readme.exists():
            quote = [line[2:] for line in readme.read_text().splitlines() if line.startswith("> ")]
            if quote:
                print(f"  description: {quote[0]}")
        return EXIT_OK
    if (path / "config.json").exists():
        cfg = json.loads((path / "config.json").read_text())
        if cfg.get("model_type") != "t2l":
            raise CLIError(f"{path} holds a {cfg.get('model_type')!r} model, not a T2L model or a PEFT adapter.")
        t2l = _load(str(path))
        c = t2l.config
        print(f"T2L hypernetwork ({c.head} head) for {c.base_model_name_or_path}")
        print(
            f"  target modules {c.target_modules}, {c.num_layers} layers, LoRA rank {c.lora_rank}, alpha {c.lora_alpha}"
        )
        print(f"  task encoder: {c.encoder_type} {c.encoder_name_or_path} ({c.task_emb_size}-d)")
        print(f"  {sum(p.numel() for p in t2l.parameters()):,} parameters, dtype {t2l.dtype}")
        from .hub import summary_items

        for key, value in summary_items(c.training_summary):
            print(f"  {key}: {value}")
        strengths = measured_strengths(c.training_summary)
        if strengths:
            print(f"  measured: {strengths}")
        return EXIT_OK
    raise CLIError(f"{path} has neither adapter_config.json nor config.json; it is not a T2L model or adapter.")


def _load(model: str):
    from .peft_integration import load_t2l_model

    try:
        return load_t2l_model(model)
    except (FileNotFoundError, ValueError) as err:
        raise CLIError(str(err)) from err
    except OSError as err:
        raise CLIError(f"Could not load the T2L model {model!r}: {err}") from err


# optional command groups, each in its own room: (module, hook, command, extra that provides its dependencies)
_PLUGINS = (
    ("peft_t2l.training.cli", "add_train_parser", "train", "train"),
    ("peft_t2l.evaluation.cli", "add_eval_parser", "eval", "eval"),
    ("peft_t2l.evaluation.cli", "add_eval_merge_parser", "eval-merge", "eval"),
    ("peft_t2l.convert.cli", "add_convert_parser", "convert-sakana", None),
    ("peft_t2l.vllm_plugin.cli", "add_serve_parser", "serve", "vllm"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="t2l", description="Text-to-LoRA: write a PEFT LoRA from a task description."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="write a LoRA adapter folder from a description")
    p.add_argument("description", help="the task, in words")
    p.add_argument("--model", default="default", help="T2L model folder or Hub id (default: the embedded default)")
    p.add_argument("--out", required=True, help="folder to write the PEFT adapter to")
    p.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty folder")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("demo", help="generate an adapter and compare base vs adapted answers to a prompt")
    p.add_argument("description", help="the task, in words")
    p.add_argument("--prompt", required=True, help="an input for the task, sent as the user turn")
    p.add_argument("--model", default="default", help="T2L model folder or Hub id (default: the embedded default)")
    p.add_argument("--max-new-tokens", type=int, default=48, help="answer length limit")
    p.add_argument("--out", default=None, help="also save the adapter to this folder")
    p.add_argument("--overwrite", action="store_true", help="allow replacing an existing adapter folder")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("info", help="describe a T2L model folder or an adapter folder")
    p.add_argument("path", help="folder to inspect")
    p.set_defaults(func=cmd_info)

    for module, hook, command, extra in _PLUGINS:
        try:
            getattr(importlib.import_module(module), hook)(sub)
        except ImportError as err:  # say what to install, rather than let argparse call it an "invalid choice"
            _add_missing_extra(sub, command, extra, err)
    return parser


def _add_missing_extra(sub, command: str, extra: str | None, err: ImportError) -> None:
    install = f"pip install 'peft-t2l[{extra}]'" if extra else "pip install --force-reinstall peft-t2l"
    # no option prefix: whatever flags follow are swallowed, so the message below is what the user sees
    p = sub.add_parser(command, help=f"(unavailable: {install})", add_help=False, prefix_chars="\x01")
    p.add_argument("rest", nargs=argparse.REMAINDER)

    def unavailable(args: argparse.Namespace) -> int:
        missing = err.name or str(err)
        raise CLIError(f"this command needs {missing!r}, which is not installed; {install}.")

    p.set_defaults(func=unavailable)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or EXIT_OK)
    # CLIError, and the library's validation errors, already name the value and the fix: no traceback
    except (CLIError, ValueError, TypeError) as err:
        print(f"t2l {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    # the file system said no (disk full, permissions, a path under /proc): its message is the useful part
    except OSError as err:
        print(f"t2l {args.command}: error: {err}", file=sys.stderr)
        user_fixable = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError, FileExistsError)
        return EXIT_USAGE if isinstance(err, user_fixable) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
