"""Command-line options as one typed dataclass: its fields generate the argparse options, and the parsed namespace
goes back into the dataclass, so a command is parsed once and then passed around as a single checked object.

Each field becomes `--field-name` (underscores as dashes), typed from its annotation: `bool` is a switch, `int`,
`float` and `str` (or `X | None`) take one value, `list[X]` takes one or more. Field `metadata` says the rest:

- `help` (required): the option's help line.
- `group`: name of an argument group to put it in (see `add_options`'s `groups`).
- `metavar`, `choices`, `nargs`: passed to argparse as they are.
- `append`: a repeatable option whose values collect into a list (`--t2l a=x --t2l b=y`).
- `required`: the option must be given although the dataclass has a default.
- `positional`: an argument without a flag (with `nargs=argparse.REMAINDER` it takes everything after `--`).

Example:
    ```python
    >>> @dataclass(kw_only=True)
    ... class Options:
    ...     port: int = field(default=8000, metadata={"help": "port to listen on"})
    >>> parser = argparse.ArgumentParser()
    >>> add_options(parser, Options)
    >>> options_from_args(Options, parser.parse_args(["--port", "9000"]))
    Options(port=9000)
    ```
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def add_options(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    groups: Mapping[str | None, argparse._ActionsContainer] | None = None,
) -> None:
    """Add one argparse argument per field of the dataclass `cls`, in field order.

    Args:
        parser: the (sub-)parser to extend.
        cls: a dataclass whose fields carry `metadata={"help": ...}` (see the module docstring for the other keys).
        groups: argument groups by the name a field's `metadata["group"]` gives; fields without one go to `parser`.

    Example:
        ```python
        >>> add_options(p, EvalOptions, groups={"run": p.add_argument_group("run")})
        ```
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if "help" not in meta:
            raise ValueError(f"{cls.__name__}.{f.name} has no metadata['help']; every option needs a help line.")
        container = parser if meta.get("group") is None else (groups or {})[meta["group"]]
        kwargs: dict[str, Any] = {"help": meta["help"]}
        for key in ("metavar", "choices", "nargs"):
            if key in meta:
                kwargs[key] = meta[key]
        if meta.get("positional"):
            container.add_argument(f.name, **kwargs)
            continue
        kwargs["dest"] = f.name
        hint, is_list = _unwrap(hints[f.name])
        if hint is bool:
            # a switch that defaults to on needs a way to turn it off: --no-<flag>
            kwargs["action"] = argparse.BooleanOptionalAction if _default(f) is True else "store_true"
            kwargs["default"] = _default(f) is True
        elif meta.get("append"):
            kwargs |= {"action": "append", "default": [], "type": hint}
        else:
            kwargs["type"] = hint
            if is_list:
                kwargs.setdefault("nargs", "+")
            if meta.get("required") or _default(f) is dataclasses.MISSING:
                kwargs["required"] = True
            else:
                kwargs["default"] = _default(f)
        container.add_argument("--" + f.name.replace("_", "-"), **kwargs)


def options_from_args(cls: type[T], args: argparse.Namespace) -> T:
    """The dataclass `cls` built from a namespace parsed with `add_options(parser, cls)`.

    Example:
        ```python
        >>> options = options_from_args(ServeOptions, parser.parse_args(["serve", "--port", "9000"]))
        ```
    """
    values = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, f.name)
        if f.metadata.get("nargs") == argparse.REMAINDER and value[:1] == ["--"]:
            value = value[1:]  # argparse keeps the `--` that separates the pass-through arguments
        values[f.name] = value
    return cls(**values)


def _default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def _unwrap(hint: Any) -> tuple[type, bool]:
    """The scalar type argparse converts each value to, and whether the field is a list: `list[int] | None` ->
    `(int, True)`."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint) or (str,)
        return item, True
    return hint, False
