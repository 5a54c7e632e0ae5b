"""The PEFT side: a config that says "this T2L model, this description", and task switching in place.

PEFT 0.21's method registry is closed (`PeftType` is an enum) and an adapter saved under a custom type does not load
without the plugin. So T2L does not register a new PEFT method: `T2LLoraConfig` is resolved, at wrap time, into a
plain `LoraConfig` plus generated weights, and PEFT only ever sees LoRA. Saved adapters are plain `peft_type: LORA`
folders; task switches use PEFT's own hot-swap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from peft import PeftModel
from safetensors import SafetensorError
from transformers import PreTrainedModel

from .defaults import EMBEDDED_T2L, looks_like_a_path
from .generated_lora import GeneratedLoRA
from .model import T2LModel

_T2L_ATTR = "_peft_t2l_model"  # stored in the PeftModel's __dict__, so torch does not register it as a submodule


@dataclass
class T2LLoraConfig:
    """Which T2L model writes the LoRA, and from which description.

    Args:
        t2l_model: a `T2LModel`, a folder or Hub id of one, or `"default"` for the embedded default model.
        task_description: the task, in words.
        adapter_name: name of the PEFT adapter to create.

    Example:
        ```python
        >>> from peft_t2l import T2LLoraConfig, get_peft_model
        >>> config = T2LLoraConfig(t2l_model="default", task_description="answer grade-school math questions")
        >>> peft_model = get_peft_model(base_model, config)
        ```
    """

    t2l_model: str | T2LModel = field(
        default="default", metadata={"help": "A T2LModel, a folder or Hub id of one, or 'default'."}
    )
    task_description: str = field(default="", metadata={"help": "The task, in words."})
    adapter_name: str = field(default="default", metadata={"help": "Name of the PEFT adapter to create."})

    def __post_init__(self):
        if not isinstance(self.t2l_model, (str, T2LModel)):
            raise ValueError(
                f"T2LLoraConfig.t2l_model={self.t2l_model!r} is neither a T2LModel nor a path/Hub id; pass one of "
                "those, or 'default'."
            )
        if not isinstance(self.task_description, str) or not self.task_description.strip():
            raise ValueError(
                f"T2LLoraConfig.task_description={self.task_description!r} is empty; describe the task in words, "
                "e.g. 'summarise a news article in one sentence'."
            )
        if not isinstance(self.adapter_name, str) or not self.adapter_name or "." in self.adapter_name:
            raise ValueError(
                f"T2LLoraConfig.adapter_name={self.adapter_name!r} is invalid; use a non-empty name without dots."
            )

    def generate(self) -> GeneratedLoRA:
        """The LoRA this config describes."""
        return load_t2l_model(self.t2l_model).generate_lora(self.task_description)


def load_t2l_model(model: str | Path | T2LModel = "default", **kwargs) -> T2LModel:
    """A T2L model from an object, a folder, a Hub id, or `"default"` (the embedded default).

    A folder whose config.json is not a T2L model, and weights with missing or unexpected tensors, are refused with
    a `ValueError` (pass `strict=False` to accept missing tensors, which are then randomly initialised).

    Args:
        model: a `T2LModel`, a folder, a Hub id, or `"default"`.
        **kwargs: passed to `T2LModel.from_pretrained` (`dtype`, `revision`, `strict`, ...).

    Example:
        ```python
        >>> t2l = load_t2l_model("default")
        ```
    """
    if isinstance(model, T2LModel):
        return model
    if str(model) == "default":
        if not (EMBEDDED_T2L / "config.json").exists():
            raise FileNotFoundError(
                f"No embedded default T2L model at {EMBEDDED_T2L}; train one (`t2l train sft`) or pass a folder/Hub id."
            )
        model = EMBEDDED_T2L
    if looks_like_a_path(str(model)) and not Path(model).exists():  # else the Hub client calls it a bad repo id
        raise FileNotFoundError(f"{model} does not exist; pass an existing T2L model folder, a Hub id, or 'default'.")
    if Path(model).is_dir() and not (Path(model) / "config.json").exists():
        raise FileNotFoundError(
            f"{model} has no config.json, so it is not a saved T2L model; pass a T2L model folder."
        )
    try:
        loaded = T2LModel.from_pretrained(str(model), **kwargs)
    except SafetensorError as err:
        raise ValueError(
            f"The weights in {model} are corrupt or truncated ({err}); save or download the model again."
        ) from err
    return loaded.eval()


def get_peft_model(base_model: PreTrainedModel, config: T2LLoraConfig) -> PeftModel:
    """A `PeftModel` whose LoRA was generated from `config.task_description`.

    The adapter is a plain PEFT LoRA on the base model's device and dtype; the T2L model is remembered so that
    `switch_task` and `add_task` can generate more adapters for this model.

    Example:
        ```python
        >>> peft_model = get_peft_model(base_model, T2LLoraConfig(t2l_model=t2l, task_description="..."))
        >>> peft_model.save_pretrained("my-adapter")  # plain LoRA
        ```
    """
    t2l = load_t2l_model(config.t2l_model)
    peft_model = t2l.generate_lora(config.task_description).to_peft_model(base_model, adapter_name=config.adapter_name)
    peft_model.__dict__[_T2L_ATTR] = t2l
    return peft_model


def switch_task(
    peft_model: PeftModel, task_description: str, *, adapter_name: str = "default", t2l_model: T2LModel | None = None
) -> GeneratedLoRA:
    """Replace the weights of adapter `adapter_name` in place with a LoRA generated from a new description.

    Uses PEFT's hot-swap: no model rebuild, no new modules. Returns the generated adapter.

    Example:
        ```python
        >>> switch_task(peft_model, "translate English to German")
        ```
    """
    if adapter_name not in peft_model.peft_config:
        raise ValueError(
            f"adapter_name={adapter_name!r} is not an adapter of this model ({sorted(peft_model.peft_config)}); "
            "use add_task to create it."
        )
    lora = _t2l_for(peft_model, t2l_model).generate_lora(task_description)
    lora.load_into(peft_model, adapter_name=adapter_name)
    return lora


def add_task(
    peft_model: PeftModel, task_description: str, *, adapter_name: str, t2l_model: T2LModel | None = None
) -> GeneratedLoRA:
    """Add a new named adapter generated from a description (use several with `adapter_names=` per batch row).

    Example:
        ```python
        >>> add_task(peft_model, "answer in French", adapter_name="french")
        >>> peft_model.generate(**batch, adapter_names=["default", "french"])
        ```
    """
    if adapter_name in peft_model.peft_config:
        raise ValueError(f"adapter_name={adapter_name!r} already exists; use switch_task to replace its weights.")
    lora = _t2l_for(peft_model, t2l_model).generate_lora(task_description)
    lora.load_into(peft_model, adapter_name=adapter_name)
    return lora


def _t2l_for(peft_model: PeftModel, t2l_model: T2LModel | None) -> T2LModel:
    t2l = t2l_model or peft_model.__dict__.get(_T2L_ATTR)
    if t2l is None:
        raise ValueError(
            "This PeftModel was not built by peft_t2l.get_peft_model, so it has no T2L model; pass t2l_model=..."
        )
    return t2l
