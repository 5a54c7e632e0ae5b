"""Settings of the T2L LoRA resolver: environment variables, optionally a YAML/JSON file, validated once.

Every field has an environment variable (`T2L_VLLM_<FIELD>`, upper case). `T2L_VLLM_CONFIG` may name a YAML or JSON
file with the same field names; environment variables win over the file, so one file can serve a fleet while a replica
overrides, say, its device.
"""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "T2L_VLLM_"
CONFIG_ENV = "T2L_VLLM_CONFIG"


def default_cache_dir() -> str:
    """`$PEFT_T2L_CACHE/vllm-adapters` (default `~/.cache/peft_t2l/vllm-adapters`)."""
    from ..defaults import cache_dir

    return str(cache_dir() / "vllm-adapters")


@dataclass(kw_only=True)
class ResolverSettings:
    """What the vLLM plugin needs to turn `t2l:<description>` into a served LoRA.

    Example:
        ```python
        >>> settings = ResolverSettings(t2l_model="default", max_adapters=64)
        >>> settings = ResolverSettings.from_env()  # T2L_VLLM_* variables and T2L_VLLM_CONFIG
        ```
    """

    t2l_model: str = field(
        default="default",
        metadata={"help": "T2L model for `t2l:<description>`: 'default' (the embedded one), a folder or a Hub id"},
    )
    extra_models: dict[str, str] = field(
        default_factory=dict,
        metadata={
            "help": "more T2L models, chosen per request with `t2l@<name>:<description>`; in the environment "
            "`name=folder,name2=folder2`"
        },
    )
    device: str = field(default="cpu", metadata={"help": "torch device the T2L runs on, e.g. 'cpu' or 'cuda:0'"})
    cache_dir: str = field(
        default_factory=default_cache_dir,
        metadata={"help": "folder of generated adapters; replicas may share it (writes are atomic renames)"},
    )
    max_adapters: int = field(
        default=256,
        metadata={
            "help": "most generated adapters kept in cache_dir (least recently used go first), and most "
            "descriptions one server keeps registered with vLLM (oldest first)"
        },
    )
    max_description_chars: int = field(
        default=2000, metadata={"help": "longest description accepted, in characters (longer: HTTP 400)"}
    )
    prefix: str = field(default="t2l", metadata={"help": "scheme of a description model name: `<prefix>:<text>`"})
    served_base_model: str | None = field(
        default=None,
        metadata={
            "help": "Hub id of the model this server serves when vLLM was given a local folder (`t2l serve` sets "
            "it); a T2L written for another base model is refused"
        },
    )
    retire_seconds: float = field(
        default=600.0,
        metadata={
            "help": "an adapter vLLM was told to forget stays on disk this long, for requests already scheduled"
        },
    )

    def __post_init__(self):
        def fail(name: str, value: Any, fix: str) -> None:
            raise ValueError(f"ResolverSettings.{name}={value!r} is invalid (env {ENV_PREFIX}{name.upper()}): {fix}")

        for name in ("t2l_model", "device", "cache_dir", "prefix"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                fail(name, value, "give a non-empty string.")
        if not self.prefix.replace("-", "").replace("_", "").isalnum():
            fail("prefix", self.prefix, "use letters, digits, '-' or '_' only, e.g. 't2l'.")
        for name in ("max_adapters", "max_description_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                fail(name, value, "give a whole number of at least 1.")
        if not isinstance(self.retire_seconds, (int, float)) or self.retire_seconds < 0:
            fail("retire_seconds", self.retire_seconds, "give a number of seconds >= 0.")
        if not isinstance(self.extra_models, dict):
            fail("extra_models", self.extra_models, "give a mapping name -> T2L model folder or Hub id.")
        for name, model in self.extra_models.items():
            if not isinstance(name, str) or not name or not name.replace("-", "").replace("_", "").isalnum():
                fail("extra_models", self.extra_models, f"model name {name!r} must be letters, digits, '-' or '_'.")
            if not isinstance(model, str) or not model.strip():
                fail("extra_models", self.extra_models, f"give a folder or Hub id for {name!r}.")
        if self.served_base_model is not None and (
            not isinstance(self.served_base_model, str) or not self.served_base_model.strip()
        ):
            fail(
                "served_base_model",
                self.served_base_model,
                "give a Hub id such as 'HuggingFaceTB/SmolLM2-135M-Instruct'.",
            )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ResolverSettings:
        """Read `T2L_VLLM_CONFIG` (YAML or JSON, optional), then let `T2L_VLLM_<FIELD>` variables override it.

        Args:
            environ: the environment to read (default `os.environ`).

        Example:
            ```python
            >>> ResolverSettings.from_env({"T2L_VLLM_MAX_ADAPTERS": "8"}).max_adapters
            8
            ```
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if env.get(CONFIG_ENV):
            values.update(_read_file(Path(env[CONFIG_ENV])))
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _parse(f.name, raw, f.default if f.default is not MISSING else None)
        return cls(**values)

    @classmethod
    def help_text(cls) -> str:
        """One line per setting: variable, default and meaning (for `t2l serve --help` and the docs)."""
        lines = []
        for f in fields(cls):
            default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
            lines.append(f"  {ENV_PREFIX}{f.name.upper()} (default {default!r}): {f.metadata['help']}")
        return "\n".join(lines)

    def to_env(self) -> dict[str, str]:
        """These settings as `T2L_VLLM_*` variables, for a child process (`t2l serve` starts vLLM this way)."""
        env = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, dict):
                value = ",".join(f"{k}={v}" for k, v in value.items())
            env[ENV_PREFIX + f.name.upper()] = str(value)
        return env


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ValueError(f"{CONFIG_ENV}={str(path)!r} is not a file; point it at a YAML or JSON settings file.")
    import yaml

    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as err:
        raise ValueError(f"{CONFIG_ENV}={str(path)!r} could not be parsed ({err}); fix the file's syntax.") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{CONFIG_ENV}={str(path)!r} holds a {type(data).__name__}; write a mapping of settings.")
    known = {f.name for f in fields(ResolverSettings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{CONFIG_ENV}={str(path)!r} has unknown settings {unknown}; known ones: {sorted(known)}.")
    return data


def _parse(name: str, raw: str, default: Any) -> Any:
    var = ENV_PREFIX + name.upper()
    if name == "extra_models":
        models = {}
        for item in filter(None, (part.strip() for part in raw.split(","))):
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"{var}={raw!r}: {item!r} has no '='; write name=folder,name2=folder2.")
            models[key.strip()] = value.strip()
        return models
    if name in ("max_adapters", "max_description_chars"):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{var}={raw!r} is not a whole number; set it to e.g. 64.") from None
    if name == "retire_seconds":
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{var}={raw!r} is not a number of seconds; set it to e.g. 600.") from None
    return raw
