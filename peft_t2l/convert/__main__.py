"""`python -m peft_t2l.convert sakana <reference_dir> <output_dir>` (the same as `t2l convert-sakana`)."""

from __future__ import annotations

import argparse

import torch

from .sakana import convert_sakana_checkpoint


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Arguments of `convert-sakana`; pass a subparser to mount it in another CLI."""
    parser = parser or argparse.ArgumentParser(prog="python -m peft_t2l.convert sakana")
    parser.add_argument("reference_dir", help="folder with hypermod.pt, args.yaml and adapter_config.json")
    parser.add_argument("output_dir", help="where to write the T2LModel folder")
    parser.add_argument("--encoder", default=None, help="record this text encoder (e.g. a local gte copy) instead")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--push-to-hub", default=None, metavar="REPO_ID", help="also upload, e.g. my-org/t2l-mistral")
    return parser


def run(args: argparse.Namespace) -> None:
    model = convert_sakana_checkpoint(
        args.reference_dir,
        args.output_dir,
        encoder_name_or_path=args.encoder,
        dtype=getattr(torch, args.dtype),
        push_to_hub=args.push_to_hub,
    )
    c = model.config
    print(
        f"Converted a {c.head} head ({sum(p.numel() for p in model.parameters()):,} parameters) for "
        f"{c.base_model_name_or_path} ({', '.join(c.target_modules)}, r={c.lora_rank}) to {args.output_dir}; "
        f"text encoder: {c.encoder_type} {c.encoder_name_or_path or ''}"
    )


def main(argv: list[str] | None = None) -> None:
    top = argparse.ArgumentParser(prog="python -m peft_t2l.convert")
    sub = top.add_subparsers(dest="source", required=True)
    build_parser(sub.add_parser("sakana", help="a SakanaAI/text-to-lora checkpoint"))
    run(top.parse_args(argv))


if __name__ == "__main__":
    main()
