"""`peft_t2l.options`: argparse options generated from a dataclass's fields, and the dataclass built back."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import pytest

from peft_t2l.options import add_options, options_from_args


@dataclass(kw_only=True)
class Options:
    name: str = field(metadata={"help": "no default: required"})
    count: int = field(default=3, metadata={"help": "an int", "group": "run"})
    ratio: float | None = field(default=None, metadata={"help": "a float or nothing", "group": "run"})
    quiet: bool = field(default=False, metadata={"help": "a switch"})
    color: bool = field(default=True, metadata={"help": "a switch that starts on"})
    modes: list[str] = field(default_factory=lambda: ["a"], metadata={"help": "one or more", "choices": ("a", "b")})
    ids: list[int] | None = field(default=None, metadata={"help": "ints"})
    tag: list[str] = field(default_factory=list, metadata={"help": "repeatable", "append": True, "metavar": "T"})
    out: str = field(default="", metadata={"help": "has a default, still required here", "required": True})
    rest: list[str] = field(
        default_factory=list, metadata={"help": "after --", "positional": True, "nargs": argparse.REMAINDER}
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="x")
    add_options(p, Options, groups={"run": p.add_argument_group("run")})
    return p


def test_defaults_types_and_round_trip():
    options = options_from_args(Options, parser().parse_args(["--name", "n", "--out", "o"]))
    assert options == Options(name="n", out="o")
    argv = ["--name", "n", "--out", "o", "--count", "5", "--ratio", "0.5", "--quiet", "--no-color"]
    argv += ["--modes", "a", "b", "--ids", "1", "2", "--tag", "x", "--tag", "y", "--", "--flag", "v"]
    options = options_from_args(Options, parser().parse_args(argv))
    assert options == Options(
        name="n", out="o", count=5, ratio=0.5, quiet=True, color=False, modes=["a", "b"], ids=[1, 2],
        tag=["x", "y"], rest=["--flag", "v"],
    )  # fmt: skip


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--out", "o"], "--name"),
        (["--name", "n"], "--out"),
        (["--name", "n", "--out", "o", "--count", "many"], "invalid int value"),
        (["--name", "n", "--out", "o", "--modes", "c"], "invalid choice"),
    ],
)
def test_parse_errors_are_argparse_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as err:
        parser().parse_args(argv)
    assert err.value.code == 2 and message in capsys.readouterr().err


def test_help_lists_every_field_and_a_field_without_help_is_refused():
    text = parser().format_help()
    for flag in ("--name", "--count", "--ratio", "--quiet", "--color", "--modes", "--ids", "--tag T", "--out", "rest"):
        assert flag in text
    assert "run:" in text  # the group

    @dataclass
    class NoHelp:
        x: int = 1

    with pytest.raises(ValueError, match=r"NoHelp.x has no metadata\['help'\]"):
        add_options(argparse.ArgumentParser(), NoHelp)
