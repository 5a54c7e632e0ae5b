"""Text-to-LoRA demo: describe a task, get a LoRA adapter, chat with it next to the base model.

Run locally with `python space/app.py` (flags: `--help`; every setting also reads an environment variable, e.g.
`T2L_MODEL`, `T2L_BASE_MODEL`, `T2L_DEVICE`, `T2L_DTYPE`, `T2L_MAX_NEW_TOKENS`). On a Hugging Face Space this file is
the entry point and the settings come from the Space's variables and secrets.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
try:
    import peft_t2l  # noqa: F401
except ImportError:  # running from a checkout of the repository without installing it
    sys.path.insert(0, str(HERE.parent))

from t2l_demo.config import AppConfig  # noqa: E402
from t2l_demo.runtime import LoadedModels, load_models  # noqa: E402
from t2l_demo.ui import build_demo  # noqa: E402

__all__ = ["AppConfig", "LoadedModels", "build_demo", "load_models", "main"]

# a session keeps up to `adapters_per_session` adapters (~2 MiB each for SmolLM2): this bounds their memory
MAX_SESSIONS = 200


def main(argv: Sequence[str] | None = None) -> None:
    """Load the models once, build the page, and serve it until interrupted.

    Args:
        argv: command-line flags (default `sys.argv[1:]`); see `python app.py --help`.
    """
    parser = AppConfig.add_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--tiny", action="store_true", help="Tiny random models built in code (UI work, no weights).")
    parser.add_argument("--host", default=None, help="Address to bind (default: Gradio's, 0.0.0.0 on Spaces).")
    parser.add_argument("--port", type=int, default=None, help="Port (default: Gradio's, 7860).")
    flags = vars(parser.parse_args(argv))
    config = AppConfig.from_flags(flags)
    if flags["tiny"]:
        from t2l_demo.tiny import tiny_models

        models = tiny_models(slots=config.loaded_adapters)
    else:
        models = load_models(config)
    demo = build_demo(models, config)
    demo.launch(server_name=flags["host"], server_port=flags["port"], state_session_capacity=MAX_SESSIONS)


if __name__ == "__main__":
    main()
