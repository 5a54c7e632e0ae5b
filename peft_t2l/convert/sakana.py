"""Convert a checkpoint of the reference implementation (SakanaAI/text-to-lora) into a `T2LModel` folder.

A reference checkpoint is a directory with `hypermod.pt` (a plain `state_dict` of its `HyperModulator`), `args.yaml`
(the training arguments) and `adapter_config.json` (the PEFT config of the LoRAs it writes). The hypernetwork's
parameter names already match `T2LModel`'s; what changes is where the per-(layer, module) output offsets live and how
the model is described (a `T2LConfig` instead of training arguments). The key mapping is in docs/interop.md.

Everything is read without executing code: `torch.load(..., weights_only=True)` for the weights, `yaml.safe_load` and
`json` for the rest.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
import yaml

from ..configuration_t2l import T2LConfig, _default_module_path
from ..model import T2LModel
from ..safe_io import check_output_folder, is_t2l_folder

REFERENCE_FILES = ("hypermod.pt", "args.yaml", "adapter_config.json")
# The reference embeds descriptions with the tokenizer's full context (2**13 tokens) and never truncates in practice.
REFERENCE_ENCODER_MAX_LENGTH = 8192
# The reference adds this to the standard deviation when it undoes z-scoring of reconstruction targets.
Z_SCORE_EPS = 1e-10
# Trunk, heads and embeddings: the reference's names are ours (modeling_t2l.py was written to match them).
_SHARED_PREFIXES = (
    "task_encoder.mlp.", "layer_depth_encoder.", "layer_type_encoder.", "mixer.", "mlp1.mlp.", "mlp2.mlp.", "mlp3.",
    "heads.", "out_emb.", "out_emb_norm.", "pos_emb.",
)  # fmt: skip
_OFFSET_BUFFERS = ("AB_offset", "mean_recon_target", "std_recon_target")


@dataclass
class ReferenceArgs:
    """The fields of a reference `args.yaml` that decide the architecture and the output transform.

    Unknown fields (learning rate, data, evaluation...) are ignored; they are kept in `T2LConfig.training_summary`.
    """

    training_task: str = field(default="sft", metadata={"help": "'sft' or 'recon'."})
    model_dir: str = field(default="", metadata={"help": "Base model the LoRAs are for."})
    emb_model: str = field(default="", metadata={"help": "Text encoder; empty means the base model's last token."})
    exp_setup: str = field(default="hyper_lora", metadata={"help": "Only 'hyper_lora' writes LoRAs."})
    encoder_type: str = field(default="linear", metadata={"help": "Task-embedding projection; only 'linear'."})
    shared_AB_head: bool = field(default=False, metadata={"help": "M (and S) head: one head for A and B."})
    autoreg_gen: bool = field(default=False, metadata={"help": "S head: one rank row at a time."})
    learnable_pos_emb: bool = field(default=False, metadata={"help": "S head: learned (else rotary) rank embedding."})
    hypernet_latent_size: int = field(default=128, metadata={"help": "Trunk width."})
    head_in_size: int = field(default=512, metadata={"help": "Input width of the heads."})
    use_one_hot_task_emb: bool = field(default=False, metadata={"help": "Task ids instead of descriptions."})
    train_ds_names: list[str] = field(default_factory=list, metadata={"help": "Training tasks (one-hot order)."})
    pred_z_score: bool = field(default=False, metadata={"help": "Recon: the head predicts z-scored LoRAs."})
    factorized: bool = field(default=False, metadata={"help": "Recon: targets are A and B (else delta W)."})
    delta_w_scaling: float = field(default=10000.0, metadata={"help": "Recon on delta W: target scale."})

    @classmethod
    def from_yaml(cls, path: Path) -> ReferenceArgs:
        raw = read_args_yaml(path)
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known and v is not None}
        args = cls(**values)
        args.check()
        return args

    def check(self) -> None:
        """Raise a `ValueError` naming the field for a variant T2LModel cannot represent."""

        def unsupported(name: str, value, why: str):
            raise ValueError(f"args.yaml: {name}={value!r} is not supported by peft-t2l: {why}")

        if self.exp_setup != "hyper_lora":
            unsupported("exp_setup", self.exp_setup, "only 'hyper_lora' checkpoints write LoRA adapters.")
        if self.encoder_type != "linear":
            unsupported("encoder_type", self.encoder_type, "only the 'linear' task projection (the released one).")
        if self.training_task not in ("sft", "recon"):
            unsupported("training_task", self.training_task, "expected 'sft' or 'recon'.")
        if self.autoreg_gen and not self.shared_AB_head:
            unsupported("autoreg_gen", True, "per-rank generation without shared_AB_head (an L head) has no T2L head.")
        if self.training_task == "recon" and self.pred_z_score and not self.factorized:
            unsupported("pred_z_score", True, "with factorized=False the reference itself cannot generate a LoRA.")
        if self.use_one_hot_task_emb and not self.train_ds_names:
            unsupported("train_ds_names", self.train_ds_names, "one-hot task embeddings need the task names.")

    @property
    def head(self) -> str:
        return "S" if self.autoreg_gen else "M" if self.shared_AB_head else "L"


# a real args.yaml is a few KiB; this bounds what a crafted one can make us parse
MAX_ARGS_YAML_BYTES = 1 << 20


class _NoAliasLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` without aliases: a few nested aliases expand into gigabytes (a "billion laughs" file)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise ValueError(
                f"args.yaml line {event.start_mark.line + 1}: YAML aliases (*{event.anchor}) are refused, since they "
                "can expand without bound; write the values out in full."
            )
        return super().compose_node(parent, index)


def read_args_yaml(path: str | Path) -> dict:
    """Parse a reference `args.yaml` safely: plain YAML only (no tags, no aliases), at most 1 MiB, a mapping.

    Example:
        ```python
        >>> read_args_yaml("trained_t2l/mistral_7b_t2l/args.yaml")["model_dir"]
        'mistralai/Mistral-7B-Instruct-v0.2'
        ```
    """
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_ARGS_YAML_BYTES:
        raise ValueError(f"{path} is {size:,} bytes; a reference args.yaml is a few KiB, so it is refused.")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_NoAliasLoader) or {}  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as err:
        raise ValueError(f"{path} is not valid YAML ({err}); fix or re-download it.") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text (byte {err.start}); re-download it.") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path} holds a {type(raw).__name__}, not the mapping of training arguments.")
    return raw


@dataclass
class ReferenceCheckpoint:
    """A reference checkpoint, read safely: `args`, the PEFT `adapter_config` and the hypernetwork `state_dict`."""

    args: ReferenceArgs
    adapter_config: dict
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    raw_args: dict = field(default_factory=dict, repr=False)


def read_reference_checkpoint(directory: str | Path) -> ReferenceCheckpoint:
    """Read a reference T2L directory without executing any pickled code.

    Args:
        directory: folder holding `hypermod.pt`, `args.yaml` and `adapter_config.json` (e.g. `trained_t2l/mistral_7b_t2l`
            from the `SakanaAI/text-to-lora` Hub repo).

    Example:
        ```python
        >>> ckpt = read_reference_checkpoint("trained_t2l/mistral_7b_t2l")
        >>> ckpt.args.head, ckpt.adapter_config["r"]
        ('L', 8)
        ```
    """
    root = Path(directory)
    missing = [name for name in REFERENCE_FILES if not (root / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{root} is not a reference T2L checkpoint: {missing} missing. Download one with "
            "`huggingface-cli download SakanaAI/text-to-lora --include 'trained_t2l/*'` and pass e.g. "
            "trained_t2l/mistral_7b_t2l."
        )
    weights = root / "hypermod.pt"
    if weights.stat().st_size == 0:
        raise ValueError(f"{weights} is empty; download the checkpoint again.")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"{weights} holds more than tensors (refused by torch.load(weights_only=True)); peft-t2l "
            "never unpickles code. Re-save it as a plain state_dict of tensors."
        ) from err
    except (EOFError, RuntimeError, OSError) as err:  # a truncated or corrupt zip/pickle
        raise ValueError(f"{weights} is truncated or corrupt ({err}); download the checkpoint again.") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{weights} is not a state_dict (a dict of tensors).")
    try:
        adapter_config = json.loads((root / "adapter_config.json").read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{root / 'adapter_config.json'} is not valid JSON ({err}); re-download it.") from None
    if not isinstance(adapter_config, dict):
        raise ValueError(f"{root / 'adapter_config.json'} is not a JSON object; re-download it.")
    if str(adapter_config.get("peft_type", "LORA")).upper() != "LORA":
        raise ValueError(f"adapter_config.json: peft_type={adapter_config['peft_type']!r}; only LORA is supported.")
    return ReferenceCheckpoint(
        args=ReferenceArgs.from_yaml(root / "args.yaml"),
        adapter_config=adapter_config,
        state_dict=state,
        raw_args=read_args_yaml(root / "args.yaml"),
    )


def t2l_config_from_reference(
    ckpt: ReferenceCheckpoint, *, module_paths: dict[str, str] | None = None, encoder_name_or_path: str | None = None
) -> T2LConfig:
    """The `T2LConfig` that makes `T2LModel` compute what the reference computes for this checkpoint.

    Shapes (layers, rank, in/out features, widths) are read from the tensors, so no base model is needed.

    Args:
        ckpt: from `read_reference_checkpoint`.
        module_paths: where each target module lives in the base model (default: Llama-style
            `model.layers.{layer}.self_attn.q_proj`, right for Mistral, Llama and Gemma).
        encoder_name_or_path: override the text encoder (e.g. a local copy of gte-large-en-v1.5).
    """
    args, sd, peft = ckpt.args, ckpt.state_dict, ckpt.adapter_config
    # The reference numbers module types by iterating PEFT's target_modules *set*, whose order depends on the
    # process's string hashing; adapter_config.json was written (list(set)) by the training process, so its order is
    # the one the layer-type embedding was trained with.
    modules = list(peft["target_modules"]) if isinstance(peft["target_modules"], (list, tuple)) else None
    if not modules:
        raise ValueError(f"adapter_config.json: target_modules={peft['target_modules']!r}; expected a list of names.")
    num_layers, task_emb_size = sd["layer_depth_encoder.0.weight"].shape[0], sd["task_encoder.mlp.0.weight"].shape[1]
    latent = sd["mixer.1.weight"].shape[1]
    if latent != args.hypernet_latent_size:
        raise ValueError(
            f"args.yaml says hypernet_latent_size={args.hypernet_latent_size} but the weights have {latent}."
        )
    rank = int(peft["r"])
    in_features = {m: sd[f"AB_offset.A.{m}"].shape[-1] for m in modules}
    out_features = {m: sd[f"AB_offset.B.{m}"].shape[-2] for m in modules}
    if args.use_one_hot_task_emb:
        encoder = dict(encoder_type="one_hot", encoder_name_or_path=None, task_names=list(args.train_ds_names))
    elif args.emb_model:
        encoder = dict(
            encoder_type="cls_token",
            encoder_name_or_path=args.emb_model,
            encoder_trust_remote_code=True,
            encoder_max_length=REFERENCE_ENCODER_MAX_LENGTH,
            task_names=list(args.train_ds_names) or None,
        )
    else:
        encoder = dict(encoder_type="llm_last_token", encoder_name_or_path=args.model_dir or None)
    if encoder_name_or_path:
        encoder["encoder_name_or_path"] = encoder_name_or_path
    summary = {
        k: ckpt.raw_args[k] for k in ("training_task", "model_dir", "emb_model", "lr", "epochs") if k in ckpt.raw_args
    }
    return T2LConfig(
        base_model_name_or_path=peft.get("base_model_name_or_path") or args.model_dir,
        target_modules=modules,
        in_features=in_features,
        out_features=out_features,
        module_paths={m: (module_paths or {}).get(m, _default_module_path(m)) for m in modules},
        num_layers=num_layers,
        lora_rank=rank,
        lora_alpha=float(peft.get("lora_alpha", 2 * rank)),
        lora_dropout=float(peft.get("lora_dropout", 0.0) or 0.0),
        use_rslora=bool(peft.get("use_rslora", False)),
        head=args.head,
        rank_embedding="learned" if args.learnable_pos_emb else "rotary",
        latent_size=latent,
        head_in_size=sd[f"heads.{modules[0]}.weight"].shape[1],
        head_use_bias=f"heads.{modules[0]}.bias" in sd,
        use_output_affine=_needs_output_affine(args, sd, modules),
        add_full_stop=not args.use_one_hot_task_emb,
        task_emb_size=task_emb_size,
        training_summary={"converted_from": "SakanaAI/text-to-lora", **summary},
        **encoder,
    )


def reference_to_t2l_state_dict(ckpt: ReferenceCheckpoint, config: T2LConfig) -> dict[str, torch.Tensor]:
    """Map the reference's keys onto `T2LModel`'s; fold its output offsets into the output-affine buffers."""
    args, sd = ckpt.args, ckpt.state_dict
    unknown = sorted(
        k for k in sd if not k.startswith(_SHARED_PREFIXES + _OFFSET_BUFFERS) and not k.startswith("rotary_emb.")
    )
    if unknown:
        raise ValueError(f"hypermod.pt has keys peft-t2l does not know: {unknown[:5]}; this variant is not supported.")
    # rotary_emb.inv_freq (kept by some transformers versions) is recomputed by T2LModel from the width
    out = {k: v for k, v in sd.items() if k.startswith(_SHARED_PREFIXES)}
    if config.use_output_affine:
        for m in config.target_modules:
            for part in ("A", "B"):
                scale, shift = _output_transform(args, sd, part, m)
                out[f"output_scale_{part}_{m}"], out[f"output_shift_{part}_{m}"] = scale, shift
    return out


def convert_sakana_checkpoint(
    directory: str | Path,
    output_dir: str | Path | None = None,
    *,
    module_paths: dict[str, str] | None = None,
    encoder_name_or_path: str | None = None,
    dtype: torch.dtype = torch.float32,
    push_to_hub: str | None = None,
    overwrite: bool = False,
) -> T2LModel:
    """Convert a reference T2L checkpoint into a `T2LModel` (saved with `save_pretrained` when `output_dir` is given).

    Args:
        directory: the reference folder (`hypermod.pt`, `args.yaml`, `adapter_config.json`).
        output_dir: where to write the converted model (safetensors + config + remote code + model card).
        module_paths: target-module paths in the base model, if not Llama-style.
        encoder_name_or_path: a local copy of the text encoder to record instead of the Hub id.
        dtype: dtype of the converted weights.
        push_to_hub: also upload to this Hub repo, e.g. `"my-org/t2l-mistral-7b"`.
        overwrite: replace an existing T2L model folder at `output_dir` (anything else there is always refused).

    Example:
        ```python
        >>> model = convert_sakana_checkpoint("trained_t2l/mistral_7b_t2l", "t2l-mistral-7b")
        >>> lora = model.generate_lora("solve grade-school math word problems")
        ```
    """
    if output_dir is not None:  # before the (slow) conversion, so a wrong path costs nothing
        check_output_folder(
            output_dir, overwrite=overwrite, what="T2L model folder", replaceable=is_t2l_folder, flag="output_dir"
        )
    ckpt = read_reference_checkpoint(directory)
    try:
        config = t2l_config_from_reference(ckpt, module_paths=module_paths, encoder_name_or_path=encoder_name_or_path)
    except KeyError as err:
        raise ValueError(
            f"{directory}: hypermod.pt lacks the tensor {err}; it is not a complete T2L checkpoint."
        ) from None
    model = T2LModel(config)
    state = reference_to_t2l_state_dict(ckpt, config)
    try:
        result = model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=False)
    except RuntimeError as err:  # a tensor whose shape contradicts the others
        raise ValueError(f"{directory}: hypermod.pt has tensors of inconsistent shapes ({err}).") from None
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"The converted weights do not fit T2LModel: missing {result.missing_keys[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}."
        )
    model = model.to(dtype).eval()
    if output_dir is not None:
        model.save_pretrained(output_dir)
    if push_to_hub:
        model.push_to_hub(push_to_hub)
    return model


# ---- the output transform --------------------------------------------------------------------------------------------


def _output_transform(args: ReferenceArgs, sd: dict, part: str, module: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) such that the reference's LoRA factor = head output * scale + shift, per (layer, position)."""
    offset = sd[f"AB_offset.{part}.{module}"].float()
    ones = torch.ones_like(offset)
    if args.training_task == "sft":  # A = head + AB_offset (a multi-task LoRA, or zeros)
        return ones, offset
    if args.factorized and args.pred_z_score:  # undo z-scoring; AB_offset is zero in reconstruction
        std, mean = sd[f"std_recon_target.{part}.{module}"].float(), sd[f"mean_recon_target.{part}.{module}"].float()
        return std + Z_SCORE_EPS, mean + offset
    if args.factorized:
        return ones, offset
    # reconstruction of delta W = B A scaled by delta_w_scaling: each factor carries its square root
    return ones / args.delta_w_scaling**0.5, torch.zeros_like(offset)


def _needs_output_affine(args: ReferenceArgs, sd: dict, modules: list[str]) -> bool:
    for m in modules:
        for part in ("A", "B"):
            scale, shift = _output_transform(args, sd, part, m)
            if not (torch.all(scale == 1) and torch.all(shift == 0)):
                return True
    return False


__all__ = [
    "ReferenceArgs",
    "ReferenceCheckpoint",
    "convert_sakana_checkpoint",
    "read_reference_checkpoint",
    "reference_to_t2l_state_dict",
    "t2l_config_from_reference",
]
