"""Settings of the demo: each field can come from an environment variable (Spaces secrets/variables) or a flag."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from peft_t2l import DEFAULT_BASE_MODEL

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")
HUB_LOGIN = ("auto", "on", "off")


@dataclass
class AppConfig:
    """What the Space loads and how much work one request may ask for.

    Example:
        ```python
        >>> config = AppConfig.from_env(max_new_tokens=32)  # env vars first, keywords override
        ```
    """

    t2l_model: str = field(
        default="default",
        metadata={
            "env": "T2L_MODEL",
            "help": "T2L model: folder, Hub id, or 'default' (embedded; untrained if absent).",
        },
    )
    base_model: str = field(
        default=DEFAULT_BASE_MODEL, metadata={"env": "T2L_BASE_MODEL", "help": "Base causal LM: Hub id or folder."}
    )
    device: str = field(default="auto", metadata={"env": "T2L_DEVICE", "help": f"One of {DEVICES}."})
    dtype: str = field(
        default="auto", metadata={"env": "T2L_DTYPE", "help": f"One of {DTYPES}; auto is bfloat16 on CUDA, else fp32."}
    )
    max_new_tokens: int = field(
        default=128, metadata={"env": "T2L_MAX_NEW_TOKENS", "help": "Longest answer, in tokens."}
    )
    max_description_chars: int = field(
        default=2000, metadata={"env": "T2L_MAX_DESCRIPTION_CHARS", "help": "Longest task description accepted."}
    )
    max_message_chars: int = field(
        default=2000, metadata={"env": "T2L_MAX_MESSAGE_CHARS", "help": "Longest chat message accepted."}
    )
    max_prompt_tokens: int = field(
        default=1024, metadata={"env": "T2L_MAX_PROMPT_TOKENS", "help": "Older turns are dropped past this length."}
    )
    adapters_per_session: int = field(
        default=5, metadata={"env": "T2L_ADAPTERS_PER_SESSION", "help": "Adapters a user keeps; oldest dropped."}
    )
    loaded_adapters: int = field(
        default=8,
        metadata={"env": "T2L_LOADED_ADAPTERS", "help": "Adapter slots in the shared model (all users); LRU reuse."},
    )
    concurrency_limit: int = field(
        default=2,
        metadata={
            "env": "T2L_CONCURRENCY",
            "help": "Adapter generations/downloads running at once (chats take turns on the shared model).",
        },
    )
    max_queue: int = field(
        default=64, metadata={"env": "T2L_MAX_QUEUE", "help": "Waiting requests before new ones are turned away."}
    )
    hub_login: str = field(
        default="auto",
        metadata={
            "env": "T2L_HUB_LOGIN",
            "help": "'Sign in with Hugging Face' + push to the visitor's own account: auto (on when the Space has "
            "hf_oauth: true), on, off. The Space's own HF_TOKEN is never used for visitors.",
        },
    )
    max_history_turns: int = field(
        default=20, metadata={"env": "T2L_MAX_HISTORY_TURNS", "help": "Chat messages kept per column; older dropped."}
    )
    max_history_chars: int = field(
        default=16000,
        metadata={"env": "T2L_MAX_HISTORY_CHARS", "help": "Characters of chat history read per request."},
    )

    def __post_init__(self):
        if self.device not in DEVICES:
            raise ValueError(f"AppConfig.device={self.device!r} is unknown; use one of {DEVICES}.")
        if self.dtype not in DTYPES:
            raise ValueError(f"AppConfig.dtype={self.dtype!r} is unknown; use one of {DTYPES}.")
        if self.hub_login not in HUB_LOGIN:
            raise ValueError(f"AppConfig.hub_login={self.hub_login!r} is unknown; use one of {HUB_LOGIN}.")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (not isinstance(value, int) or value <= 0):
                raise ValueError(f"AppConfig.{f.name}={value!r} is invalid; use a positive integer.")

    @property
    def push_enabled(self) -> bool:
        """Whether visitors can sign in and push: Spaces with `hf_oauth: true` set OAUTH_CLIENT_ID."""
        if self.hub_login == "auto":
            return bool(os.environ.get("OAUTH_CLIENT_ID"))
        return self.hub_login == "on"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> AppConfig:
        """Read each field from its environment variable (see `help`), then apply `overrides`.

        Args:
            environ: the variables to read (default `os.environ`).
            **overrides: field values that win over the environment.
        """
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, f.type, raw)
        return cls(**{**values, **overrides})

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """Add one flag per field (`--max-new-tokens 64`); unset flags fall back to the environment."""
        for f in fields(cls):
            parser.add_argument(
                "--" + f.name.replace("_", "-"),
                dest=f.name,
                type=int if f.type == "int" else str,
                default=None,
                help=f"{f.metadata['help']} Env: {f.metadata['env']}.",
            )
        return parser

    @classmethod
    def from_flags(cls, flags: Mapping[str, object], environ: Mapping[str, str] | None = None) -> AppConfig:
        """Flags parsed by a parser from `add_arguments`, over environment variables, over defaults.

        Example:
            ```python
            >>> parser = AppConfig.add_arguments(argparse.ArgumentParser())
            >>> config = AppConfig.from_flags(vars(parser.parse_args(["--device", "cpu"])))
            ```
        """
        names = {f.name for f in fields(cls)}
        return cls.from_env(environ, **{k: v for k, v in flags.items() if k in names and v is not None})


def _parse(name: str, type_name: str, raw: str) -> int | str:
    if type_name != "int":
        return raw
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"AppConfig.{name}: environment value {raw!r} is not an integer.") from None
