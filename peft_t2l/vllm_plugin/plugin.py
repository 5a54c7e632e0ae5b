"""The vLLM side: a `LoRAResolver` around `DescriptionResolver`, registered by the `vllm.general_plugins` entry point.

Imported only inside a vLLM process (vLLM calls `register()` in each of its processes when `VLLM_PLUGINS` names
`peft_t2l`, or names nothing); nothing else in peft_t2l imports vLLM.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from .resolver import DescriptionRequestError, DescriptionResolver
from .settings import ResolverSettings

logger = logging.getLogger("vllm.plugins.peft_t2l")  # under "vllm": printed by vLLM's log handler

RESOLVER_NAME = "peft-t2l"


def make_resolver(settings: ResolverSettings | None = None):
    """A vLLM `LoRAResolver` that serves `t2l:<description>` names (settings from the environment by default).

    Args:
        settings: the resolver settings (default `ResolverSettings.from_env()`).

    Example:
        ```python
        >>> from vllm.lora.resolver import LoRAResolverRegistry
        >>> LoRAResolverRegistry.register_resolver("peft-t2l", make_resolver())
        ```
    """
    from vllm.exceptions import VLLMValidationError
    from vllm.lora.request import LoRARequest
    from vllm.lora.resolver import LoRAResolver

    class T2LLoRAResolver(LoRAResolver):
        """Writes a LoRA for the description in the request's `model` name (see `peft_t2l.vllm_plugin`)."""

        def __init__(self, settings: ResolverSettings):
            self._pending: list[str] = []  # names to forget, collected in the worker thread
            self.core = DescriptionResolver(settings, forget=self._pending.append)
            self._serving_models: list = []

        async def resolve_lora(self, base_model_name: str, lora_name: str) -> LoRARequest | None:
            if not self._serving_models:
                models = _calling_serving_models(self, sys._getframe(1))
                if models is not None:
                    self._serving_models.append(models)
            try:
                # the T2L forward and the disk writes block: keep them off the event loop that serves other requests
                resolved = await asyncio.to_thread(self.core.resolve, base_model_name, lora_name)
            except DescriptionRequestError as err:
                # vLLM turns a client error raised here into an OpenAI-style 400 and keeps serving
                raise VLLMValidationError(str(err), parameter="model") from None
            finally:
                self._forget_pending()
            if resolved is None:
                return None  # not a description: vLLM asks its other resolvers, then answers 404
            # lora_int_id is replaced by vLLM's own counter before the adapter is loaded
            return LoRARequest(lora_name=resolved.name, lora_int_id=1, lora_path=str(resolved.path))

        def _forget_pending(self) -> None:
            # vLLM keeps every resolved name in its serving models' `lora_requests` and would reload the adapter from
            # our (soon deleted) copy; dropping the name makes its next request come back to this resolver. Done here,
            # on the event loop's thread, so no request handler sees the dict change under it.
            if not self._pending:
                return
            if not self._serving_models:
                logger.warning(
                    "peft_t2l did not find vLLM's registry of LoRA names, so descriptions beyond "
                    "T2L_VLLM_MAX_ADAPTERS stay registered; raise T2L_VLLM_RETIRE_SECONDS so their files outlive them."
                )
            names = []
            while self._pending:  # pop one by one: the worker thread may append meanwhile
                names.append(self._pending.pop(0))
            for models in self._serving_models:
                for name in names:
                    models.lora_requests.pop(name, None)
            logger.info("forgot %d description adapter(s) beyond T2L_VLLM_MAX_ADAPTERS", len(names))

    return T2LLoRAResolver(settings or ResolverSettings.from_env())


def _calling_serving_models(resolver, frame) -> object | None:
    """The `OpenAIServingModels` that is calling `resolver` (vLLM gives resolvers no handle to it), or `None`.

    `frame` is the caller's frame: vLLM calls `resolve_lora` from `OpenAIServingModels.resolve_lora`, whose `self` holds
    the registry of resolved names (`lora_requests`) and the resolver list. Checked by duck typing: the class has
    moved between vLLM versions, these two attributes have not.
    """
    caller = frame.f_locals.get("self") if frame is not None else None
    try:
        resolvers, requests = caller.lora_resolvers, caller.lora_requests
    except AttributeError:
        return None
    if isinstance(requests, dict) and any(r is resolver for r in resolvers):
        return caller
    return None


def register() -> None:
    """vLLM plugin entry point (`vllm.general_plugins`: `peft_t2l`): register the description resolver.

    Settings come from `T2L_VLLM_*` variables and `T2L_VLLM_CONFIG` (see `ResolverSettings`); nothing is loaded
    until the first description arrives.

    Example:
        ```bash
        VLLM_PLUGINS=peft_t2l VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve <base model> --enable-lora
        ```
    """
    from vllm.lora.resolver import LoRAResolverRegistry

    LoRAResolverRegistry.register_resolver(RESOLVER_NAME, make_resolver())
