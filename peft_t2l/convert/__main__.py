"""`python -m peft_t2l.convert sakana <reference_dir> <output_dir>` (the same as `t2l convert-sakana`)."""

from __future__ import annotations

import argparse
import sys

from .cli import add_sakana_arguments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m peft_t2l.convert")
    sub = parser.add_subparsers(dest="source", required=True)
    add_sakana_arguments(sub.add_parser("sakana", help="a SakanaAI/text-to-lora checkpoint"))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
