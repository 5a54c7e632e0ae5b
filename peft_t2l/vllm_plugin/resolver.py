"""Turn a model name such as `t2l:Translate English to French.` into a plain PEFT adapter folder for vLLM.

This module does not import vLLM: `DescriptionResolver` does the work (parse the name, check the description and the
base model, generate once, store, hand out a per-server copy), and `peft_t2l.vllm_plugin.plugin` wraps it in vLLM's
`LoRAResolver`. Request errors are `DescriptionRequestError`s (a `ValueError`), which the wrapper turns into HTTP 400.

Names (the `model` field of a chat/completions request), with the default prefix `t2l`:

- `t2l:<description>`: the description, for the T2L model of `T2L_VLLM_T2L_MODEL`.
- `t2l@<name>:<description>`: the description, for the T2L model registered as `<name>` in `T2L_VLLM_EXTRA_MODELS`.
- anything else is not ours: the resolver answers `None` and vLLM tries its other resolvers, then answers 404.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .cache import AdapterStore, ServedViews, adapter_key
from .settings import ResolverSettings

logger = logging.getLogger("vllm.plugins.peft_t2l")  # under "vllm": printed by vLLM's log handler


class DescriptionRequestError(ValueError):
    """A request's `model` names a description that cannot be served; the message says why and what to send."""

    param = "model"


@dataclass(frozen=True)
class ParsedName:
    """A description model name, split: which T2L model (`None`: the default one) and the description."""

    model: str | None
    description: str


@dataclass(frozen=True)
class ResolvedAdapter:
    """What vLLM needs for a `LoRARequest`: the request's name and this server's adapter folder."""

    name: str
    path: Path
    cache_hit: bool


@dataclass
class ResolverStats:
    """Counts since the server started; `hits` + `misses` = descriptions resolved (first use in this server)."""

    hits: int = 0
    misses: int = 0
    generated: int = 0
    store_evictions: int = 0
    forgotten: int = 0
    errors: int = 0
    generate_seconds: list[float] = field(default_factory=list)


def parse_model_name(name: str, *, prefix: str = "t2l", max_chars: int = 2000) -> ParsedName | None:
    """Split a request's `model` into (T2L model, description); `None` when the name is not a description.

    Args:
        name: the `model` field of the request.
        prefix: the scheme (`ResolverSettings.prefix`).
        max_chars: the longest description accepted.

    Raises:
        DescriptionRequestError: the name uses the scheme but the description is empty, too long or not text.

    Example:
        ```python
        >>> parse_model_name("t2l:Translate English to French.")
        ParsedName(model=None, description='Translate English to French.')
        >>> parse_model_name("t2l@math:Solve the word problem.").model
        'math'
        >>> parse_model_name("HuggingFaceTB/SmolLM2-135M-Instruct") is None
        True
        ```
    """
    if not isinstance(name, str):
        return None
    model: str | None = None
    if name.startswith(prefix + ":"):
        text = name[len(prefix) + 1 :]
    elif name.startswith(prefix + "@"):
        model, sep, text = name[len(prefix) + 1 :].partition(":")
        if not sep or not model:
            raise DescriptionRequestError(
                f"The model name {_short(name)!r} starts with '{prefix}@' but has no '<name>:' after it; write "
                f"'{prefix}@<t2l model name>:<description>', or '{prefix}:<description>' for the default T2L model."
            )
    else:
        return None
    text = text.strip()
    if not text:
        raise DescriptionRequestError(
            f"The model name {name!r} has an empty description; write the task after '{prefix}:', e.g. "
            f"'{prefix}:Classify the sentiment of a movie review as positive or negative.'"
        )
    if len(text) > max_chars:
        raise DescriptionRequestError(
            f"The description in model name {_short(name)!r} is {len(text):,} characters long; the limit is "
            f"{max_chars:,} (T2L_VLLM_MAX_DESCRIPTION_CHARS): describe the task in fewer words."
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise DescriptionRequestError(
            f"The description in model name {_short(name)!r} has a character that is not valid Unicode text at "
            f"position {err.start}; send it as UTF-8 text."
        ) from None
    return ParsedName(model, text)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


def base_models_match(t2l_base: str, served: str, *, declared: str | None = None) -> bool:
    """Whether a T2L written for `t2l_base` fits the model vLLM serves (`served`: vLLM's model id or folder).

    A served folder matches when it is the declared id's folder (`t2l serve` passes the id as `declared`) or the
    offline copy of the default base model.

    Args:
        t2l_base: `T2LConfig.base_model_name_or_path`.
        served: what vLLM was started with (`--model`), a Hub id or a folder.
        declared: the Hub id the operator says `served` is (`T2L_VLLM_SERVED_BASE_MODEL`).

    Example:
        ```python
        >>> base_models_match("HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct")
        True
        ```
    """
    if t2l_base in (served, declared):
        return True
    from ..defaults import DEFAULT_BASE_MODEL, offline_base_model_path

    if t2l_base == DEFAULT_BASE_MODEL:
        local = offline_base_model_path(convert=False)
        if local is not None and Path(served).exists() and Path(served).resolve() == local.resolve():
            return True
    return False


def read_t2l_config(model: str) -> dict | None:
    """The T2L model's config.json as a dict, without loading weights; `None` for a Hub id not downloaded yet."""
    from ..defaults import EMBEDDED_T2L

    folder = EMBEDDED_T2L if model == "default" else Path(model)
    config = folder / "config.json"
    if config.is_file():
        return json.loads(config.read_text(encoding="utf-8"))
    return None


_NOT_THE_MODEL = {"transformers_version", "dtype", "torch_dtype", "architectures", "auto_map", "name_or_path"}


def model_fingerprint(t2l) -> str:
    """A content hash of a T2L model (config and weights): the same model gives the same key on every replica.

    Example:
        ```python
        >>> model_fingerprint(load_t2l_model("default"))[:8]
        '5b0c9e1a'
        ```
    """
    # library versions and load-time fields are not the model: replicas on other versions must agree on keys
    config = {k: v for k, v in t2l.config.to_dict().items() if k not in _NOT_THE_MODEL and not k.startswith("_")}
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for name, tensor in sorted(t2l.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().view(-1).view(dtype=_byte_dtype()).numpy().tobytes())
    return digest.hexdigest()[:32]


def _byte_dtype():
    import torch

    return torch.uint8


class DescriptionResolver:
    """Resolve description model names to adapter folders: generate once, store, serve copies.

    Args:
        settings: where the T2L models, cache and bounds come from.
        forget: tells the serving engine to drop a registered name (see `ServedViews`).
        models: T2L models already in memory, by the spec a name resolves to (`t2l_model` or an `extra_models`
            value); the others are loaded on first use.

    Example:
        ```python
        >>> resolver = DescriptionResolver(ResolverSettings(cache_dir="/tmp/t2l-cache"))
        >>> resolver.resolve("HuggingFaceTB/SmolLM2-135M-Instruct", "t2l:Translate English to French.").path
        PosixPath('/tmp/t2l-cache/served/host-123/9c1e...-1')
        ```
    """

    def __init__(self, settings: ResolverSettings, *, forget=None, models: dict | None = None):
        self.settings = settings
        self.stats = ResolverStats()
        self._lock = threading.Lock()  # one T2L forward at a time; vLLM already serialises per name
        # model spec -> (T2LModel, fingerprint)
        self._models: dict[str, tuple[object, str]] = {k: (m, model_fingerprint(m)) for k, m in (models or {}).items()}
        self._store: AdapterStore | None = None
        self._views: ServedViews | None = None
        self._forget = forget

    # ---- the pieces, created on first use: vLLM loads plugins in every process, only the API server resolves --------

    @property
    def store(self) -> AdapterStore:
        if self._store is None:
            self._store = AdapterStore(self.settings.cache_dir, max_adapters=self.settings.max_adapters)
        return self._store

    @property
    def views(self) -> ServedViews:
        if self._views is None:
            self._views = ServedViews(
                self.settings.cache_dir,
                max_adapters=self.settings.max_adapters,
                forget=self._forget,
                retire_seconds=self.settings.retire_seconds,
            )
        return self._views

    def model_spec(self, parsed: ParsedName) -> str:
        """The T2L model (folder, Hub id or 'default') a parsed name asks for."""
        if parsed.model is None:
            return self.settings.t2l_model
        if parsed.model not in self.settings.extra_models:
            known = sorted(self.settings.extra_models) or "none"
            raise DescriptionRequestError(
                f"No T2L model is named {parsed.model!r} on this server (known: {known}); use "
                f"'{self.settings.prefix}:<description>' for the default T2L model, or register it with "
                f"T2L_VLLM_EXTRA_MODELS={parsed.model}=<folder>."
            )
        return self.settings.extra_models[parsed.model]

    def check_base_model(self, spec: str, served: str) -> None:
        """Refuse a T2L written for another base model than the one vLLM serves, before any weights load."""
        config = read_t2l_config(spec)
        t2l_base = config.get("base_model_name_or_path") if config else None
        if t2l_base is None:  # a Hub id: the loaded model's config is checked after loading
            return
        self._check_base(spec, t2l_base, served)

    def _check_base(self, spec: str, t2l_base: str, served: str) -> None:
        if not base_models_match(t2l_base, served, declared=self.settings.served_base_model):
            raise DescriptionRequestError(
                f"The T2L model {spec!r} writes adapters for {t2l_base!r}, but this server serves {served!r}"
                f"{f' ({self.settings.served_base_model!r})' if self.settings.served_base_model else ''}; serve "
                f"{t2l_base!r} (`t2l serve --model {spec}`), or choose a T2L model for the served model."
            )

    def load(self, spec: str):
        """The T2L model for a spec and its fingerprint, loaded once."""
        if spec not in self._models:
            from ..peft_integration import load_t2l_model

            start = time.perf_counter()
            try:
                t2l = load_t2l_model(spec)
            except (OSError, ValueError) as err:
                # the operator's mistake, not the caller's: still a clear message, and the server keeps serving
                raise DescriptionRequestError(
                    f"The T2L model {spec!r} could not be loaded ({err}); fix T2L_VLLM_T2L_MODEL / "
                    "T2L_VLLM_EXTRA_MODELS."
                ) from err
            fingerprint = model_fingerprint(t2l)
            t2l = t2l.to(self.settings.device)
            self._models[spec] = (t2l, fingerprint)
            logger.info(
                "T2L model %s loaded in %.1f s (fingerprint %s)", spec, time.perf_counter() - start, fingerprint
            )
        return self._models[spec]

    def resolve(self, base_model_name: str, lora_name: str) -> ResolvedAdapter | None:
        """The adapter folder for a description name, generating it on a store miss; `None` if the name is not ours.

        Args:
            base_model_name: the model vLLM serves (its `--model`).
            lora_name: the request's `model` field.

        Raises:
            DescriptionRequestError: a bad description, an unknown T2L name, or a T2L for another base model.
        """
        try:
            parsed = parse_model_name(
                lora_name, prefix=self.settings.prefix, max_chars=self.settings.max_description_chars
            )
            if parsed is None:
                return None
            spec = self.model_spec(parsed)
            self.check_base_model(spec, base_model_name)
            with self._lock:
                t2l, fingerprint = self.load(spec)
                self._check_base(spec, t2l.config.base_model_name_or_path, base_model_name)
                key = adapter_key(fingerprint, parsed.description)
                folder = self.store.get(key)
                hit = folder is not None
                if hit:
                    self.stats.hits += 1
                else:
                    self.stats.misses += 1
                    folder = self._generate(t2l, parsed.description, key)
                path, forgotten = self.views.add(lora_name, folder)
                self.stats.forgotten += len(forgotten)
                self.write_stats()
        except DescriptionRequestError:
            self.stats.errors += 1
            raise
        logger.info("%s %s -> %s", "cache hit" if hit else "generated", _short(lora_name), path)
        return ResolvedAdapter(lora_name, path, hit)

    def _generate(self, t2l, description: str, key: str) -> Path:
        start = time.perf_counter()
        try:
            lora = t2l.generate_lora(description)
        except ValueError as err:  # the package's own description checks
            raise DescriptionRequestError(f"The description could not be used: {err}") from err
        folder = self.store.put(key, lambda out: lora.save_pretrained(out, overwrite=False))
        self.stats.generated += 1
        self.stats.store_evictions = self.store.evictions
        self.stats.generate_seconds.append(time.perf_counter() - start)
        return folder

    def discard(self, lora_name: str) -> None:
        """Drop this server's copy of an adapter that vLLM refused to load."""
        with self._lock:
            self.views.discard(lora_name)

    def write_stats(self) -> Path:
        """Write the counters to `<served folder>/stats.json` (read by tests and operators)."""
        out = self.views.folder / "stats.json"
        tmp = out.with_suffix(".tmp")
        data = {k: v for k, v in vars(self.stats).items() if k != "generate_seconds"}
        data["registered"] = len(self.views)
        data["stored"] = len(self.store.keys())
        data["last_generate_seconds"] = self.stats.generate_seconds[-1] if self.stats.generate_seconds else None
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(out)
        return out
