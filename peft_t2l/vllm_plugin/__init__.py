"""Serve Text-to-LoRA on vLLM: a request whose `model` is `t2l:<description>` gets a LoRA written for it.

- `plugin.register`: the `vllm.general_plugins` entry point (`VLLM_PLUGINS=peft_t2l`), registers the LoRA resolver.
- `resolver.DescriptionResolver`: parses the name, generates once per (T2L model, description), stores the adapter.
- `cache.AdapterStore` / `cache.ServedViews`: the bounded on-disk cache, shareable between replicas.
- `settings.ResolverSettings`: `T2L_VLLM_*` environment variables or a `T2L_VLLM_CONFIG` file.
- `cli.add_serve_parser`: `t2l serve`, vLLM's OpenAI-compatible server with all of the above switched on.

vLLM itself is imported only by `plugin` and inside `t2l serve`'s child process, so this package imports without it.
See docs/serving.md.
"""

from .resolver import DescriptionRequestError, DescriptionResolver, parse_model_name
from .settings import ResolverSettings

__all__ = ["DescriptionRequestError", "DescriptionResolver", "ResolverSettings", "parse_model_name"]
