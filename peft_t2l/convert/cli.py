"""`t2l convert-sakana <reference_dir> <output_dir>`: mounted by peft_t2l.cli, also `python -m peft_t2l.convert sakana`."""

from __future__ import annotations

import argparse

import torch

from .sakana import convert_sakana_checkpoint


def add_sakana_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("reference_dir", help="folder with hypermod.pt, args.yaml and adapter_config.json")
    parser.add_argument("output_dir", help="where to write the T2LModel folder")
    parser.add_argument("--encoder", default=None, help="record this text encoder (e.g. a local gte copy) instead")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing T2L model folder")
    parser.add_argument("--push-to-hub", default=None, metavar="REPO_ID", help="also upload, e.g. my-org/t2l-mistral")
    parser.set_defaults(func=run_convert_sakana)
    return parser


def add_convert_parser(subparsers) -> None:
    """The plugin hook peft_t2l.cli calls with its subparsers."""
    add_sakana_arguments(
        subparsers.add_parser(
            "convert-sakana", help="convert a SakanaAI/text-to-lora checkpoint to a T2L model folder"
        )
    )


def run_convert_sakana(args: argparse.Namespace) -> int:
    model = convert_sakana_checkpoint(
        args.reference_dir,
        args.output_dir,
        encoder_name_or_path=args.encoder,
        dtype=getattr(torch, args.dtype),
        push_to_hub=args.push_to_hub,
        overwrite=args.overwrite,
    )
    c = model.config
    print(
        f"Converted a {c.head} head ({sum(p.numel() for p in model.parameters()):,} parameters) for "
        f"{c.base_model_name_or_path} ({', '.join(c.target_modules)}, r={c.lora_rank}) to {args.output_dir}; "
        f"text encoder: {c.encoder_type} {c.encoder_name_or_path or ''}"
    )
    return 0
