"""`t2l serve`: vLLM's OpenAI-compatible server for a T2L model's base model, with description adapters switched on.

    t2l serve                                   # the default T2L, offline SmolLM2-135M-Instruct, 127.0.0.1:8000
    t2l serve --model my-t2l --port 9000 -- --tensor-parallel-size 2 --max-model-len 4096

Everything after `--` goes to `vllm serve` unchanged; a flag given there wins over the one `t2l serve` derives.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..options import add_options, options_from_args
from .settings import ResolverSettings

VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vllm.config.lora.MaxLoRARanks
PLUGIN_NAME = "peft_t2l"  # the entry point's name in the vllm.general_plugins group
VLLM_VENV_HINT = (
    "vLLM is not installed in this environment ({python}). It lives in its own venv (it pins an older "
    "transformers): build it with `bash scripts/setup.sh --vllm`, then run `.venv-vllm/bin/t2l serve ...`."
)


def lora_rank_limit(rank: int) -> int:
    """The smallest rank vLLM accepts for `--max-lora-rank` that holds a rank-`rank` adapter.

    Example:
        ```python
        >>> lora_rank_limit(8), lora_rank_limit(12)
        (8, 16)
        ```
    """
    for allowed in VLLM_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise ValueError(f"LoRA rank {rank} is above vLLM's largest --max-lora-rank ({VLLM_LORA_RANKS[-1]}).")


@dataclass(kw_only=True)
class ServeOptions:
    """Everything `t2l serve` is told, from the command line to the launcher: one object, parsed once.

    The `t2l serve` parser is built from these fields (`peft_t2l.options.add_options` reads their `help`, and
    `positional`/`nargs` for the flags after `--`); `command()` turns them into the `vllm serve` command line and its
    environment, and `serve()` runs it.

    Example:
        ```python
        >>> argv, env = ServeOptions(model="default", port=9000).command()
        ```
    """

    model: str = field(default="default", metadata={"help": "T2L model: 'default', a folder or a Hub id"})
    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on (0.0.0.0: all interfaces)"})
    port: int = field(default=8000, metadata={"help": "port to listen on"})
    base_model: str | None = field(
        default=None,
        metadata={"help": "the base model to serve, a Hub id or folder (default: the T2L's, offline copy if any)"},
    )
    max_loras: int = field(default=8, metadata={"help": "distinct adapters in one batch (vLLM --max-loras)"})
    cache_dir: str | None = field(default=None, metadata={"help": "adapter cache folder (T2L_VLLM_CACHE_DIR)"})
    max_adapters: int | None = field(default=None, metadata={"help": "adapters kept (T2L_VLLM_MAX_ADAPTERS)"})
    device: str | None = field(default=None, metadata={"help": "device of the T2L forward (T2L_VLLM_DEVICE)"})
    dry_run: bool = field(default=False, metadata={"help": "print the vLLM command and environment, start nothing"})
    vllm_args: list[str] = field(
        default_factory=list,
        metadata={"positional": True, "nargs": argparse.REMAINDER, "help": "-- then flags for `vllm serve`"},
    )

    def __post_init__(self):
        if not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ValueError(f"--port {self.port!r} is invalid; use a port number between 1 and 65535.")
        if self.max_loras < 1:
            raise ValueError(f"--max-loras {self.max_loras} is invalid; allow at least 1 adapter per batch.")

    def t2l_config(self):
        from ..configuration_t2l import T2LConfig
        from ..defaults import EMBEDDED_T2L

        source = EMBEDDED_T2L if self.model == "default" else self.model
        try:
            return T2LConfig.from_pretrained(str(source))
        except OSError as err:
            raise ValueError(
                f"--model {self.model!r}: no T2L config could be read ({err}); pass 'default', a T2L model folder or "
                "a Hub id."
            ) from err

    def settings(self, base_id: str) -> ResolverSettings:
        settings = ResolverSettings.from_env()
        overrides = {"t2l_model": self.model, "served_base_model": base_id}
        for name in ("cache_dir", "max_adapters", "device"):
            if getattr(self, name) is not None:
                overrides[name] = getattr(self, name)
        return ResolverSettings(**{**vars(settings), **overrides})

    def command(self) -> tuple[list[str], dict[str, str]]:
        """The `vllm serve` argv (run with this Python) and the environment variables to add."""
        from ..defaults import resolve

        config = self.t2l_config()
        base_id = config.base_model_name_or_path
        served = self.base_model or resolve(base_id)
        given = {arg.split("=", 1)[0] for arg in self.vllm_args if arg.startswith("--")}
        argv = [sys.executable, "-m", "peft_t2l.vllm_plugin.launch", "serve", served]
        derived = {
            "--host": self.host,
            "--port": str(self.port),
            # clients name the base model by its Hub id whether vLLM reads it from the Hub or from a local copy
            "--served-model-name": base_id,
            "--max-lora-rank": str(lora_rank_limit(config.lora_rank)),
            "--max-loras": str(self.max_loras),
        }
        argv.append("--enable-lora")
        for flag, value in derived.items():
            if flag not in given:
                argv += [flag, value]
        argv += self.vllm_args
        env = self.settings(base_id).to_env()
        env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
        plugins = [p for p in os.environ.get("VLLM_PLUGINS", "").split(",") if p]
        env["VLLM_PLUGINS"] = ",".join(dict.fromkeys([*plugins, PLUGIN_NAME]))
        return argv, env


def cmd_serve(args: argparse.Namespace) -> int:
    """Run `t2l serve` as parsed by `add_serve_parser`."""
    return serve(options_from_args(ServeOptions, args))


def serve(options: ServeOptions) -> int:
    """Start `vllm serve` for `options` in this process (exec), or print its command with `dry_run`; returns 0.

    Example:
        ```python
        >>> serve(ServeOptions(port=9000, dry_run=True))
        ```
    """
    argv, env = options.command()
    if options.dry_run:
        print(" ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items())))
        print(shlex.join(argv))
        return 0
    if importlib.util.find_spec("vllm") is None:
        from ..cli import CLIError

        raise CLIError(VLLM_VENV_HINT.format(python=sys.executable))
    print(f"t2l serve: {shlex.join(argv[3:])}", file=sys.stderr, flush=True)
    # exec: signals (Ctrl-C, a supervisor's SIGTERM) go straight to vLLM, which shuts its workers down itself
    os.execve(argv[0], argv, {**os.environ, **env})
    return 0  # not reached


def add_serve_parser(sub: argparse._SubParsersAction) -> None:
    """Add `t2l serve` to the `t2l` command line (registered in `peft_t2l.cli._PLUGINS`).

    Example:
        ```bash
        .venv-vllm/bin/t2l serve --port 8000 -- --max-model-len 2048
        ```
    """
    p = sub.add_parser(
        "serve",
        help="serve descriptions as LoRAs on vLLM's OpenAI-compatible server (needs the .venv-vllm environment)",
        description=__doc__.split("\n\n")[0]
        + " A request whose `model` is `t2l:<description>` is answered with a LoRA the T2L writes for it.",
        epilog="resolver settings (environment variables; T2L_VLLM_CONFIG may name a YAML/JSON file):\n"
        + ResolverSettings.help_text()
        + "\n\nflags after `--` go to `vllm serve`; see docs/serving.md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(p, ServeOptions)
    p.set_defaults(func=cmd_serve)


__all__ = ["ServeOptions", "add_serve_parser", "lora_rank_limit", "serve", "Path"]
