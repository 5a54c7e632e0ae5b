"""Typed training configs: one dataclass per trainer, read from YAML plus `key=value` overrides, saved with checkpoints.

Defaults follow the paper's recipe (AdamW with weight decay, warmup then linear decay, an L2 penalty on generated
weights, label smoothing, NEFTune noise) scaled down to a CPU-sized run.
"""

from __future__ import annotations

import dataclasses
import types
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ..configuration_t2l import T2LConfig
from ..defaults import DEFAULT_BASE_MODEL

MIXED_PRECISION = ("no", "bf16", "fp16")
RECON_TARGETS = ("lora", "delta_w")
LORA_MODES = ("oracle", "multitask")


def _fail(config: object, attr: str, value: Any, fix: str) -> None:
    raise ValueError(f"{type(config).__name__}.{attr}={value!r} is invalid: {fix}")


@dataclass(kw_only=True)
class RunConfig:
    """Optimisation, engine and checkpointing fields shared by every trainer."""

    output_dir: str = field(metadata={"help": "Folder for checkpoints, metrics.jsonl, summary.json and the result."})
    seed: int = field(default=42, metadata={"help": "Seed of initialisation, batches, descriptions and dropout."})
    max_steps: int = field(default=1000, metadata={"help": "Optimizer steps to run."})
    max_minutes: float | None = field(
        default=None,
        metadata={
            "help": "Stop after this many minutes of training in this process, even before max_steps (a time-boxed "
            "run: a GPU lease, a session); the checkpoint, the model and summary.json ('stopped_early') are written "
            "as at the end, and resume=true continues towards max_steps. The learning rate still follows max_steps."
        },
    )
    learning_rate: float = field(default=1e-4, metadata={"help": "Peak learning rate of AdamW."})
    weight_decay: float = field(default=1e-2, metadata={"help": "AdamW weight decay (not on biases and norms)."})
    adam_beta1: float = field(default=0.9, metadata={"help": "AdamW beta1."})
    adam_beta2: float = field(default=0.999, metadata={"help": "AdamW beta2."})
    warmup_steps: int = field(default=100, metadata={"help": "Linear warmup steps, then linear decay to zero."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm (0 disables it)."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Micro-batches per optimizer step."})
    mixed_precision: str = field(default="no", metadata={"help": f"One of {MIXED_PRECISION} (Accelerate autocast)."})
    cpu: bool = field(default=False, metadata={"help": "Train on CPU even when an accelerator is present."})
    save_every: int = field(default=200, metadata={"help": "Checkpoint every N optimizer steps (and at the end)."})
    keep_checkpoints: int = field(default=2, metadata={"help": "How many recent checkpoints to keep."})
    log_every: int = field(default=10, metadata={"help": "Write a metrics.jsonl line every N steps."})
    resume: bool = field(default=False, metadata={"help": "Continue from the latest checkpoint in output_dir."})
    tensorboard: bool = field(default=False, metadata={"help": "Also log to TensorBoard (needs `tensorboard`)."})
    progress: bool = field(default=True, metadata={"help": "Show a progress bar (main process only)."})

    def check_run(self) -> None:
        if not self.output_dir:
            _fail(self, "output_dir", self.output_dir, "name a folder for the run, e.g. output_dir=runs/sft.")
        for attr in ("max_steps", "gradient_accumulation_steps", "save_every", "keep_checkpoints", "log_every"):
            if getattr(self, attr) <= 0:
                _fail(self, attr, getattr(self, attr), "use a positive integer.")
        if self.max_minutes is not None and not self.max_minutes > 0:
            _fail(self, "max_minutes", self.max_minutes, "use a positive number of minutes, or null for no limit.")
        if not self.learning_rate > 0:
            _fail(self, "learning_rate", self.learning_rate, "use a positive number such as 1e-4.")
        if self.weight_decay < 0 or self.max_grad_norm < 0:
            attr = "weight_decay" if self.weight_decay < 0 else "max_grad_norm"
            _fail(self, attr, getattr(self, attr), "use a non-negative number.")
        for attr in ("adam_beta1", "adam_beta2"):
            if not 0.0 <= getattr(self, attr) < 1.0:
                _fail(self, attr, getattr(self, attr), "use a value in [0, 1).")
        if self.warmup_steps < 0:
            _fail(self, "warmup_steps", self.warmup_steps, "use 0 (no warmup) or a positive number of steps.")
        if self.mixed_precision not in MIXED_PRECISION:
            _fail(self, "mixed_precision", self.mixed_precision, f"use one of {MIXED_PRECISION}.")


@dataclass(kw_only=True)
class DataFields:
    """Where examples come from and how they become batches."""

    data: str = field(
        default="../shared/data/sni/train",
        metadata={"help": "Task folder, one task file, or 'hf:<dataset id>' (see peft_t2l.data.load_tasks)."},
    )
    tasks: list[str] | None = field(default=None, metadata={"help": "Train on these tasks only (default: all)."})
    max_instances_per_task: int | None = field(default=None, metadata={"help": "Use the first N instances per task."})
    num_holdout_instances: int = field(
        default=0,
        metadata={
            "help": "Keep the last N instances of each task (at most half) out of training, so seen tasks can be "
            "evaluated on unseen inputs with `t2l eval --holdout-instances N`."
        },
    )
    base_model: str = field(default=DEFAULT_BASE_MODEL, metadata={"help": "Hub id or folder of the frozen base LLM."})
    max_prompt_length: int = field(
        default=96, metadata={"help": "Longest prompt in tokens; longer ones keep their end."}
    )
    max_response_length: int = field(
        default=32, metadata={"help": "Longest response in tokens; longer ones keep their start."}
    )
    tasks_per_batch: int = field(default=4, metadata={"help": "Distinct tasks in each batch (n)."})
    examples_per_task: int = field(default=2, metadata={"help": "Examples of each task in each batch (m)."})
    label_smoothing: float = field(default=0.1, metadata={"help": "Label smoothing of the token cross-entropy."})
    neftune_noise_alpha: float = field(default=0.0, metadata={"help": "NEFTune embedding noise (0 disables it)."})
    loss_per_example: bool = field(
        default=False,
        metadata={
            "help": "Average the loss over each example's response tokens, then over examples (the reference's "
            "weighting), instead of over all response tokens, so one-word-label tasks weigh as much as long answers."
        },
    )

    def check_data(self) -> None:
        if not self.data:
            _fail(self, "data", self.data, "name a task folder, a task file or 'hf:<dataset id>'.")
        for attr in ("max_prompt_length", "max_response_length", "tasks_per_batch", "examples_per_task"):
            if getattr(self, attr) <= 0:
                _fail(self, attr, getattr(self, attr), "use a positive integer.")
        if self.max_instances_per_task is not None and self.max_instances_per_task <= 0:
            _fail(self, "max_instances_per_task", self.max_instances_per_task, "use a positive integer or null.")
        if self.num_holdout_instances < 0:
            _fail(self, "num_holdout_instances", self.num_holdout_instances, "use 0 or a positive integer.")
        if not 0.0 <= self.label_smoothing < 1.0:
            _fail(self, "label_smoothing", self.label_smoothing, "use a value in [0, 1), e.g. 0.1.")
        if self.neftune_noise_alpha < 0:
            _fail(self, "neftune_noise_alpha", self.neftune_noise_alpha, "use 0 (off) or a positive value such as 5.")


# Old training-config names of T2LConfig fields -> T2LConfig's name. YAML files and `key=value` overrides written
# before the rename keep working (with a DeprecationWarning); `--print-config` and checkpoints write the new name.
FIELD_ALIASES: dict[str, str] = {"hypernet_dropout": "dropout"}


class RenamedFieldWarning(DeprecationWarning):
    """A config names a field by its old name (`FIELD_ALIASES`); `t2l train` prints these."""


_T2L_CONFIG_FIELDS = {f.name: f for f in dataclasses.fields(T2LConfig)}


def _t2l_field(name: str, help: str | None = None) -> Any:
    """A dataclass field with T2LConfig's name, default and help, so the two cannot drift apart (T2LConfig validates
    it); `help` replaces T2LConfig's text where training says more."""
    source = _T2L_CONFIG_FIELDS[name]  # a KeyError at import names a field T2LConfig does not have
    metadata = {"help": help or source.metadata["help"], "t2l": True}
    if source.default_factory is not dataclasses.MISSING:
        return field(default_factory=source.default_factory, metadata=metadata)
    return field(default=source.default, metadata=metadata)


@dataclass(kw_only=True)
class HypernetFields:
    """The T2L model to train: loaded from a folder, or built for the base model from T2LConfig's shape fields.

    The shape fields (`T2L_FIELDS`) carry T2LConfig's names and defaults; `check_hypernet` hands them to T2LConfig,
    whose error names the field, the value and the fix.
    """

    init_from: str | None = field(
        default=None, metadata={"help": "Start from this T2L folder (ignores the shape fields)."}
    )
    head: str = _t2l_field("head")
    rank_embedding: str = _t2l_field("rank_embedding")
    latent_size: int = _t2l_field("latent_size")
    head_in_size: int = _t2l_field("head_in_size")
    head_use_bias: bool = _t2l_field("head_use_bias")
    dropout: float = _t2l_field("dropout", "Dropout inside the hypernetwork trunk (was `hypernet_dropout`).")
    lora_rank: int = _t2l_field("lora_rank")
    lora_alpha: float = _t2l_field("lora_alpha")
    lora_dropout: float = _t2l_field("lora_dropout", "Dropout on the generated LoRA's input in training.")
    use_rslora: bool = _t2l_field("use_rslora")
    target_modules: list[str] = _t2l_field("target_modules")
    encoder_type: str = _t2l_field("encoder_type")
    encoder_name_or_path: str | None = _t2l_field("encoder_name_or_path")
    encoder_max_length: int = _t2l_field("encoder_max_length")
    add_full_stop: bool = _t2l_field("add_full_stop")
    num_holdout_descriptions: int = field(
        default=0, metadata={"help": "Keep the last N descriptions of each task out of training, for evaluation."}
    )

    @property
    def hypernet_dropout(self) -> float:
        """Deprecated name of `dropout`."""
        warnings.warn(
            f"{type(self).__name__}.hypernet_dropout is now `dropout` (T2LConfig's name); read config.dropout.",
            RenamedFieldWarning,
            stacklevel=2,
        )
        return self.dropout

    def t2l_fields(self) -> dict[str, Any]:
        """The T2LConfig fields this config sets, as `T2LModel.from_base_model` takes them.

        Example:
            ```python
            >>> t2l = T2LModel.from_base_model(base_model, **config.t2l_fields(), task_names=names)
            ```
        """
        values = {name: getattr(self, name) for name in T2L_FIELDS}
        values["target_modules"] = list(self.target_modules)
        if self.encoder_type == "one_hot":  # task ids read no text: a recorded encoder would mislead the model card
            values["encoder_name_or_path"] = None
        return values

    def check_hypernet(self) -> None:
        if self.num_holdout_descriptions < 0:
            _fail(self, "num_holdout_descriptions", self.num_holdout_descriptions, "use 0 or a positive integer.")
        values = self.t2l_fields()
        # module sizes come from the base model and task names from the data, both read when training starts:
        # neutral stand-ins let T2LConfig check every other field now, before anything loads
        later = {
            "in_features": dict.fromkeys(values["target_modules"], 1),
            "out_features": dict.fromkeys(values["target_modules"], 1),
        }
        if self.encoder_type == "one_hot":
            later |= {"task_names": ["task"], "task_emb_size": 1}
        T2LConfig(**values, **later)


# The hypernetwork fields a training config sets, with T2LConfig's names, types and defaults: T2LConfig validates
# them, so a training config cannot accept a model that T2LConfig would refuse (or refuse one it accepts).
T2L_FIELDS = tuple(f.name for f in dataclasses.fields(HypernetFields) if f.metadata.get("t2l"))


@dataclass(kw_only=True)
class SFTConfig(HypernetFields, DataFields, RunConfig):
    """Supervised fine-tuning of the hypernetwork through the frozen base LLM (`t2l train sft`)."""

    l2_reg_generated_w: float = field(default=1e-3, metadata={"help": "L2 penalty on the generated A and B."})
    offset_from_lora: str | None = field(
        default=None,
        metadata={
            "help": "Start the generated LoRA at this PEFT adapter (e.g. the multi-task LoRA), as the paper's "
            "AB offset: it is stored in the output shift buffers and the heads start at zero without bias, so step 0 "
            "reproduces that adapter and training learns the description-dependent part."
        },
    )

    definition_fraction: float = field(
        default=0.0,
        metadata={
            "help": "Share of rows whose adapter is generated from the task's definition (its original instruction "
            "text, which usually states the answer format) instead of one of its descriptions, so the model learns "
            "to read answer formats from text as users paste them; tasks without a definition are unaffected."
        },
    )
    mismatch_fraction: float = field(
        default=0.0,
        metadata={
            "help": "Share of batch rows also run with the adapter of another task's description (see "
            "mismatch_negatives); those extra rows feed the mismatch margin loss (0 disables it). Costs that share "
            "of extra compute."
        },
    )
    mismatch_weight: float = field(
        default=1.0, metadata={"help": "Weight of the mismatch margin loss (with mismatch_fraction > 0)."}
    )
    mismatch_margin: float = field(
        default=1.0,
        metadata={
            "help": "Nats per response token by which another task's adapter should fit a row worse than its own."
        },
    )
    mismatch_negatives: str = field(
        default="batch",
        metadata={
            "help": "Where a mismatched row's other description comes from: 'batch' (another task of the same "
            "batch, a random task) or 'nearest' (one of the mismatch_nearest_k training tasks whose descriptions "
            "embed closest to the row's task: neighbours the model must tell apart)."
        },
    )
    mismatch_nearest_k: int = field(
        default=5, metadata={"help": "With mismatch_negatives='nearest': draw among this many nearest other tasks."}
    )

    def __post_init__(self):
        self.check_run()
        self.check_data()
        self.check_hypernet()
        if self.l2_reg_generated_w < 0:
            _fail(self, "l2_reg_generated_w", self.l2_reg_generated_w, "use 0 (off) or a small positive value.")
        if not 0.0 <= self.definition_fraction <= 1.0:
            _fail(self, "definition_fraction", self.definition_fraction, "use a share in [0, 1], e.g. 0.1 (0 is off).")
        if self.definition_fraction > 0 and self.encoder_type == "one_hot":
            _fail(self, "definition_fraction", self.definition_fraction, "a one_hot encoder reads no text; use 0.")
        if not 0.0 <= self.mismatch_fraction <= 1.0:
            _fail(self, "mismatch_fraction", self.mismatch_fraction, "use a share in [0, 1], e.g. 0.5 (0 is off).")
        if self.mismatch_fraction > 0 and self.tasks_per_batch < 2:
            _fail(self, "tasks_per_batch", self.tasks_per_batch, "the mismatch loss needs >= 2 tasks per batch.")
        if self.mismatch_negatives not in ("batch", "nearest"):
            _fail(self, "mismatch_negatives", self.mismatch_negatives, "use 'batch' or 'nearest'.")
        if self.mismatch_nearest_k < 1:
            _fail(self, "mismatch_nearest_k", self.mismatch_nearest_k, "use a positive number of tasks, e.g. 5.")
        if self.mismatch_weight < 0 or self.mismatch_margin < 0:
            attr = "mismatch_weight" if self.mismatch_weight < 0 else "mismatch_margin"
            _fail(self, attr, getattr(self, attr), "use a non-negative number.")


@dataclass(kw_only=True)
class ReconConfig(HypernetFields, RunConfig):
    """Reconstruction of a library of LoRA folders by the hypernetwork (`t2l train recon`)."""

    library: str = field(default="", metadata={"help": "Folder of LoRA folders, one per task (named by the task)."})
    data: str | None = field(
        default=None, metadata={"help": "Task folder giving each task's descriptions (not needed for one_hot)."}
    )
    base_model: str = field(default=DEFAULT_BASE_MODEL, metadata={"help": "Base LLM the library was trained on."})
    loss_on: str = field(default="lora", metadata={"help": f"One of {RECON_TARGETS}: L1 on A and B, or on B @ A."})
    normalize: bool = field(
        default=True, metadata={"help": "Z-score A and B per position across tasks (loss_on=lora only)."}
    )
    tasks_per_batch: int = field(default=8, metadata={"help": "Tasks reconstructed per step."})

    def __post_init__(self):
        self.check_run()
        self.check_hypernet()
        if not self.library:
            _fail(self, "library", self.library, "name the folder holding one LoRA folder per task.")
        if self.loss_on not in RECON_TARGETS:
            _fail(self, "loss_on", self.loss_on, f"use one of {RECON_TARGETS}.")
        if self.normalize and self.loss_on != "lora":
            _fail(self, "normalize", self.normalize, "z-scoring applies to loss_on=lora; set normalize=false.")
        if self.encoder_type != "one_hot" and not self.data:
            _fail(self, "data", self.data, "text encoders need each task's descriptions: point data at a task folder.")
        if self.tasks_per_batch <= 0:
            _fail(self, "tasks_per_batch", self.tasks_per_batch, "use a positive integer.")


@dataclass(kw_only=True)
class LoraTrainConfig(DataFields, RunConfig):
    """Plain PEFT LoRA baselines: one per task (oracle) or one on all tasks (multitask) (`t2l train lora`)."""

    mode: str = field(default="oracle", metadata={"help": f"One of {LORA_MODES}."})
    init_from: str | None = field(
        default=None,
        metadata={
            "help": "Start from this PEFT LoRA folder instead of a fresh LoRA (every oracle task starts from it); its "
            "rank, alpha and target modules must equal lora_rank, lora_alpha and target_modules."
        },
    )
    lora_rank: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: float = field(default=16.0, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout."})
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "v_proj"], metadata={"help": "Modules to adapt."}
    )

    def __post_init__(self):
        self.check_run()
        self.check_data()
        if self.mode not in LORA_MODES:
            _fail(self, "mode", self.mode, f"use one of {LORA_MODES}.")
        if self.lora_rank <= 0 or not self.lora_alpha > 0:
            attr = "lora_rank" if self.lora_rank <= 0 else "lora_alpha"
            _fail(self, attr, getattr(self, attr), "use a positive number.")
        if not 0.0 <= self.lora_dropout < 1.0:
            _fail(self, "lora_dropout", self.lora_dropout, "use a probability in [0, 1).")
        if not self.target_modules:
            _fail(self, "target_modules", self.target_modules, "name at least one module, e.g. [q_proj, v_proj].")


C = TypeVar("C", bound=RunConfig)


def load_config(cls: type[C], path: str | Path | None = None, overrides: list[str] | None = None) -> C:
    """Read a config from a YAML file, apply `key=value` overrides, check types and values.

    Args:
        cls: `SFTConfig`, `ReconConfig` or `LoraTrainConfig`.
        path: YAML file (optional; overrides alone are enough).
        overrides: strings like `"learning_rate=3e-4"` or `"target_modules=[q_proj,v_proj]"` (YAML values).

    Example:
        ```python
        >>> config = load_config(SFTConfig, "configs/sft_smollm2_sni.yaml", ["max_steps=10"])
        ```
    """
    values: dict[str, Any] = {}
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"config file {path} must hold a mapping of field: value, not {type(loaded).__name__}.")
        values.update(rename_aliases(cls, loaded))
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} is not key=value, e.g. max_steps=100.")
        # renamed per source, so an override under either name replaces the file's value under the other
        values.update(rename_aliases(cls, {key.strip(): yaml.safe_load(raw) if raw.strip() else None}))
    return config_from_dict(cls, values)


def config_from_dict(cls: type[C], values: dict[str, Any]) -> C:
    """Build `cls` from plain values, with a clear error for unknown fields and wrong types.

    Example:
        ```python
        >>> config = config_from_dict(SFTConfig, {"output_dir": "runs/x", "max_steps": 10})
        ```
    """
    values = rename_aliases(cls, values)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {unknown}; valid fields: {sorted(names)}.")
    missing = [f.name for f in dataclasses.fields(cls) if _required(f) and f.name not in values]
    if missing:
        raise ValueError(f"{cls.__name__} needs {missing}; set them in the YAML file or as key=value.")
    coerced = {key: _coerce(cls, key, value, hints[key]) for key, value in values.items()}
    return cls(**coerced)


def rename_aliases(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """`values` with old field names (`FIELD_ALIASES`) replaced by the names `cls` has now, each with a warning.

    Raises a `ValueError` when a mapping sets a field under both names to different values.

    Example:
        ```python
        >>> rename_aliases(SFTConfig, {"hypernet_dropout": 0.1})  # DeprecationWarning
        {'dropout': 0.1}
        ```
    """
    names = {f.name for f in dataclasses.fields(cls)}
    renamed: dict[str, Any] = {}
    for key, value in values.items():
        new = FIELD_ALIASES.get(key)
        if new is None or new not in names:  # not an alias for this config: config_from_dict judges the name
            renamed[key] = value
            continue
        if new in values and values[new] != value:
            raise ValueError(
                f"{cls.__name__}: {key}={value!r} and {new}={values[new]!r} set the same field ({key} is the old "
                f"name of {new}); keep only {new}."
            )
        warnings.warn(
            f"{cls.__name__} field {key!r} is now {new!r} (T2LConfig's name); write {new}: in YAML files and "
            f"{new}=... on the command line.",
            RenamedFieldWarning,
            stacklevel=3,
        )
        renamed[new] = value
    return renamed


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """Plain JSON/YAML-able values of a config (what checkpoints and model cards record)."""
    return dataclasses.asdict(config)


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _coerce(cls: type, key: str, value: Any, hint: Any) -> Any:
    """Check `value` against the annotation `hint`; accept ints and '3e-4' for floats and 'a,b' strings for lists."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
    if typing.get_origin(hint) is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    elif hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif hint is float and isinstance(value, str) and _is_float(value):
        return float(value)  # YAML 1.1 reads "3e-4" (no dot) as a string; it is what everyone writes
    elif hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif hint is bool and isinstance(value, bool):
        return value
    elif hint is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    expected = getattr(hint, "__name__", str(hint))
    raise ValueError(f"{cls.__name__}.{key}={value!r} is a {type(value).__name__}; expected {expected}.")
