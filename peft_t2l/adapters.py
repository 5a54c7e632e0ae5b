"""From a T2L model's output to plain PEFT LoRA adapters: naming, export, attaching, hot-swapping.

A `GeneratedLoRA` is a `peft.LoraConfig` plus a state dict in PEFT's key format. Saved, it is an ordinary
`peft_type: LORA` folder that stock PEFT and vLLM load without this package.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model, set_peft_model_state_dict
from peft.tuners.lora import LoraLayer
from peft.utils.hotswap import hotswap_adapter_from_state_dict
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig, PreTrainedModel

from .configuration_t2l import T2LConfig
from .defaults import DEFAULT_ENCODER, resolve
from .encoders import add_full_stop, check_descriptions, load_text_encoder
from .modeling_t2l import T2LModel
from .safe_io import is_adapter_folder, write_folder

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
PEFT_PREFIX = "base_model.model."


@dataclass
class GeneratedLoRA:
    """A LoRA adapter written by a T2L model for one description.

    Args:
        description: the task description it was generated from.
        lora_config: the PEFT config (rank, alpha, target modules, base model).
        state_dict: PEFT-format tensors, e.g. `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`.
        t2l_model: name or path of the T2L model that wrote it, for the model card.
    """

    description: str
    lora_config: LoraConfig
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    t2l_model: str | None = None

    def __repr__(self) -> str:
        c = self.lora_config
        return (
            f"GeneratedLoRA(description={self.description[:60]!r}, base_model={c.base_model_name_or_path!r}, "
            f"r={c.r}, alpha={c.lora_alpha}, target_modules={sorted(c.target_modules)}, tensors={len(self.state_dict)})"
        )

    @property
    def num_parameters(self) -> int:
        return sum(t.numel() for t in self.state_dict.values())

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.state_dict.values())

    def to(self, device=None, dtype: torch.dtype | None = None) -> GeneratedLoRA:
        """A copy with every tensor moved to `device` and/or cast to `dtype`."""
        tensors = {k: v.to(device=device, dtype=dtype) for k, v in self.state_dict.items()}
        return GeneratedLoRA(self.description, copy.deepcopy(self.lora_config), tensors, self.t2l_model)

    # ---- export ------------------------------------------------------------------------------------------------

    def save_pretrained(
        self, save_directory: str | os.PathLike, *, model_card: bool = True, overwrite: bool = True
    ) -> Path:
        """Write `adapter_config.json`, `adapter_model.safetensors` and a README model card.

        The folder is built whole in a temporary sibling and renamed into place, so a reader (or an interrupted save)
        never sees new weights next to an old README; a second writer of the same folder at the same time is refused.
        An existing folder is replaced only if it holds nothing but a previous adapter.

        Args:
            save_directory: folder to write (its parents are created if needed).
            model_card: also write README.md naming the description, the T2L model and the base model.
            overwrite: replace an existing, non-empty adapter folder (False: refuse with a `ValueError`).

        Example:
            ```python
            >>> lora = t2l.generate_lora("classify movie reviews as positive or negative")
            >>> lora.save_pretrained("sentiment-lora")
            >>> PeftModel.from_pretrained(base_model, "sentiment-lora")  # plain PEFT, no peft_t2l needed
            ```
        """
        check_finite(self)
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in self.state_dict.items()}
        card = str(self.model_card()) if model_card else None
        with write_folder(
            save_directory, overwrite=overwrite, what="adapter folder", replaceable=is_adapter_folder
        ) as tmp:
            save_file(tensors, str(tmp / ADAPTER_WEIGHTS), metadata={"format": "pt"})
            self.lora_config.save_pretrained(str(tmp))  # PEFT's own serialisation of its config
            if card is not None:
                (tmp / "README.md").write_text(card, encoding="utf-8")
        return Path(save_directory)

    def model_card(self):
        """A `huggingface_hub.ModelCard` for this adapter."""
        from .hub import adapter_model_card

        return adapter_model_card(self)

    def push_to_hub(
        self, repo_id: str, *, token: str | None = None, private: bool | None = None, commit_message: str | None = None
    ) -> str:
        """Upload this adapter as a PEFT folder to the Hub; returns the commit URL.

        Example:
            ```python
            >>> lora.push_to_hub("me/sentiment-lora")
            ```
        """
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp)
            info = api.upload_folder(
                repo_id=repo_id, folder_path=tmp, commit_message=commit_message or f"LoRA for: {self.description[:60]}"
            )
        return str(info)

    # ---- attaching to a base model -----------------------------------------------------------------------------

    def to_peft_model(self, base_model: PreTrainedModel, *, adapter_name: str = "default") -> PeftModel:
        """Wrap `base_model` in a `PeftModel` carrying this adapter (on the base model's device and dtype).

        If `base_model` already is a `PeftModel`, the adapter is added to it (or swapped in, if the name exists).

        Example:
            ```python
            >>> peft_model = lora.to_peft_model(base_model)
            >>> peft_model.generate(**inputs)
            ```
        """
        if isinstance(base_model, PeftModel):
            return self.load_into(base_model, adapter_name=adapter_name)
        check_base_model(self, base_model)
        with warnings.catch_warnings():  # PEFT warns when it renames base_model_name_or_path; we restore it below
            warnings.simplefilter("ignore", UserWarning)
            peft_model = get_peft_model(base_model, copy.deepcopy(self.lora_config), adapter_name=adapter_name)
        if not base_model.name_or_path:  # a model built in code: keep the id the T2L model was made for
            peft_model.peft_config[adapter_name].base_model_name_or_path = self.lora_config.base_model_name_or_path
        _load_state_dict(peft_model, self, adapter_name)
        return peft_model.eval()

    def load_into(self, peft_model: PeftModel, *, adapter_name: str = "default") -> PeftModel:
        """Add this adapter to `peft_model` under `adapter_name`, or hot-swap it in place if that name exists.

        A swap copies the new tensors into the existing LoRA parameters (no re-wrapping, no new modules), so a
        compiled model or a running server keeps working.
        """
        check_base_model(self, peft_model.get_base_model())
        if adapter_name in peft_model.peft_config:
            target = _first_lora_weight(peft_model, adapter_name)
            tensors = {
                _with_adapter_name(k, adapter_name): v.to(target.device, target.dtype)
                for k, v in self.state_dict.items()
            }
            hotswap_adapter_from_state_dict(peft_model, tensors, adapter_name, self.lora_config)
        else:
            peft_model.add_adapter(adapter_name, copy.deepcopy(self.lora_config))
            _load_state_dict(peft_model, self, adapter_name)
        return peft_model.eval()


# ---- generation ------------------------------------------------------------------------------------------------


def embed_descriptions(model: T2LModel, descriptions: str | list[str]) -> torch.Tensor:
    """Task embeddings `[batch, task_emb_size]` for descriptions, on the model's device and in float32."""
    texts = check_descriptions(descriptions)
    if model.config.add_full_stop:  # the reference's checkpoints were trained on descriptions ending in "."
        texts = [add_full_stop(t) for t in texts]
    if model._text_encoder is None:
        model._text_encoder = load_text_encoder(model.config, device=model.device)
    return model._text_encoder.encode(texts).to(model.device)


# descriptions per hypernetwork forward: bounds the peak memory of a large batch (each row's output is ~MiBs)
GENERATE_CHUNK = 32


@torch.no_grad()
def generate_lora(
    model: T2LModel,
    descriptions: str | list[str],
    *,
    task_embeddings: torch.Tensor | None = None,
    batch_size: int = GENERATE_CHUNK,
) -> GeneratedLoRA | list[GeneratedLoRA]:
    """Turn description(s) into PEFT LoRA adapter(s) with batched forwards of the hypernetwork.

    Args:
        model: the T2L model. Generation runs on its device and in its dtype.
        descriptions: one description (returns one `GeneratedLoRA`) or a list (returns a list, in order).
        task_embeddings: precomputed `[batch, task_emb_size]` embeddings, to skip the text encoder.
        batch_size: descriptions per forward; a long list is generated in chunks of this size to bound memory.

    Each adapter owns its tensors (no views into the batch), so keeping one adapter keeps only its own memory.

    Example:
        ```python
        >>> lora = model.generate_lora("solve grade-school math word problems")
        >>> loras = model.generate_lora(["translate to French", "summarise news articles"])
        ```
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size={batch_size!r} is invalid; use a positive integer such as {GENERATE_CHUNK}.")
    texts = check_descriptions(descriptions)
    if task_embeddings is not None and task_embeddings.shape[0] != len(texts):
        raise ValueError(
            f"task_embeddings has {task_embeddings.shape[0]} rows for {len(texts)} descriptions; pass one per "
            "description."
        )
    source = model.name_or_path or model.config.name_or_path or None
    was_training = model.training
    model.eval()
    loras = []
    try:
        for start in range(0, len(texts), batch_size):
            chunk = texts[start : start + batch_size]
            if task_embeddings is not None:
                emb = task_embeddings[start : start + batch_size]
            else:
                emb = embed_descriptions(model, chunk)  # [B, E]
            out = model(emb.to(model.device))
            for i, text in enumerate(chunk):
                tensors = lora_state_dict(model.config, out.lora_A, out.lora_B, i)
                # a view would keep the whole batch's output alive for as long as this one adapter lives
                tensors = {k: v.clone() for k, v in tensors.items()}
                loras.append(GeneratedLoRA(text, lora_config(model.config), tensors, source))
            del out
    finally:
        model.train(was_training)
    return loras[0] if isinstance(descriptions, str) else loras


def check_finite(lora: GeneratedLoRA) -> None:
    """Raise a `ValueError` if any tensor of `lora` holds NaN or infinity (a broken T2L model or dtype overflow).

    Example:
        ```python
        >>> check_finite(lora)  # before saving or serving it
        ```
    """
    bad = [k for k, v in lora.state_dict.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(
            f"The adapter for {lora.description[:60]!r} has NaN or infinite values in {len(bad)} tensors (e.g. "
            f"{bad[0]}); the T2L model's weights are broken or overflow in this dtype. Load it in float32 or retrain it."
        )


def lora_config(config: T2LConfig) -> LoraConfig:
    """The plain PEFT config of every adapter a T2L model with `config` writes."""
    return LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        use_rslora=config.use_rslora,
        target_modules=list(config.target_modules),
        base_model_name_or_path=config.base_model_name_or_path,
        task_type="CAUSAL_LM",
        bias="none",
    )


def lora_state_dict(
    config: T2LConfig, lora_A: dict[str, torch.Tensor], lora_B: dict[str, torch.Tensor], index: int
) -> dict[str, torch.Tensor]:
    """PEFT-keyed tensors for row `index` of a T2L output (views into the batch: clone them to keep one alone)."""
    tensors = {}
    for m in config.target_modules:
        path = PEFT_PREFIX + config.module_paths[m]
        for layer, (a, b) in enumerate(zip(lora_A[m][index].unbind(0), lora_B[m][index].unbind(0))):
            tensors[f"{path.format(layer=layer)}.lora_A.weight"] = a  # [r, in]
            tensors[f"{path.format(layer=layer)}.lora_B.weight"] = b  # [out, r]
    return tensors


def read_lora_folder(folder: str | os.PathLike, config: T2LConfig) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """module -> (A `[L, r, in]`, B `[L, out, r]`) of one PEFT folder, B rescaled to the T2L scaling."""
    folder = Path(folder)
    adapter = json.loads((folder / ADAPTER_CONFIG).read_text())
    rank, alpha = adapter.get("r"), adapter.get("lora_alpha")
    if rank != config.lora_rank:
        raise ValueError(f"LoRA {folder} has rank {rank}, the T2L model {config.lora_rank}; set lora_rank={rank}.")
    lib_scaling = alpha / (rank**0.5 if adapter.get("use_rslora") else rank)
    weights = load_file(folder / ADAPTER_WEIGHTS)
    result = {}
    for m in config.target_modules:
        a_list, b_list = [], []
        for layer in range(config.num_layers):
            key = PEFT_PREFIX + config.module_paths[m].format(layer=layer)
            if f"{key}.lora_A.weight" not in weights:
                raise ValueError(
                    f"LoRA {folder} has no weights for {key}; train the library on {config.target_modules}."
                )
            a_list.append(weights[f"{key}.lora_A.weight"].float())
            b_list.append(weights[f"{key}.lora_B.weight"].float())
        # same deltaW under the T2L model's scaling: scaling_t2l * B' @ A = scaling_lib * B @ A
        result[m] = (torch.stack(a_list), torch.stack(b_list) * (lib_scaling / config.scaling))
    return result


# ---- building a T2L config from a base model ---------------------------------------------------------------------


def config_from_base_model(
    base_model: PreTrainedModel | PretrainedConfig | str,
    *,
    target_modules: list[str] | tuple[str, ...] = ("q_proj", "v_proj"),
    lora_rank: int = 8,
    lora_alpha: float | None = None,
    head: str = "M",
    encoder_type: str = "sentence_transformers",
    encoder_name_or_path: str | None = DEFAULT_ENCODER,
    task_emb_size: int | None = None,
    **kwargs,
) -> T2LConfig:
    """A `T2LConfig` for any Llama/Mistral/Qwen2/Gemma-style causal LM, read from its module shapes.

    The model is built on the meta device from its config, so no weights are needed.

    Args:
        base_model: a loaded model, its config, or a Hub id / folder.
        target_modules: short names of the Linear modules to adapt.
        lora_rank: LoRA rank `r`.
        lora_alpha: LoRA alpha (default `2 * lora_rank`).
        head: `"L"`, `"M"` or `"S"`.
        encoder_type: `"sentence_transformers"`, `"llm_last_token"` or `"one_hot"`.
        encoder_name_or_path: the sentence encoder (or LLM) that reads descriptions.
        task_emb_size: size of the encoder's embeddings (read from the encoder when not given).
        **kwargs: any other `T2LConfig` field (latent_size, head_in_size, task_names, ...).

    Example:
        ```python
        >>> model = T2LModel.from_base_model("HuggingFaceTB/SmolLM2-135M-Instruct", head="L")
        ```
    """
    known = {f.name for f in dataclasses.fields(T2LConfig)}
    unknown = sorted(set(kwargs) - known)
    if unknown:  # T2LConfig would keep them as inert attributes, so a typo would silently change nothing
        raise ValueError(
            f"Unknown T2LConfig field(s) {unknown}; the T2L fields are "
            f"{sorted(set(T2LConfig.__annotations__) - set(_BUILT_FROM_BASE))}."
        )
    if isinstance(target_modules, str):
        raise ValueError(f"target_modules={target_modules!r} is a string; pass a list, e.g. [{target_modules!r}].")
    if isinstance(base_model, PeftModel):
        base_model = base_model.get_base_model()
    if isinstance(base_model, PreTrainedModel):
        name = base_model.name_or_path
        modules = dict(base_model.named_modules())
        num_layers = getattr(base_model.config.get_text_config(), "num_hidden_layers", None)
        hidden_size = base_model.config.get_text_config().hidden_size
    else:
        cfg = (
            base_model if isinstance(base_model, PretrainedConfig) else AutoConfig.from_pretrained(resolve(base_model))
        )
        name = base_model if isinstance(base_model, str) else cfg.name_or_path
        with torch.device("meta"):
            meta = AutoModelForCausalLM.from_config(cfg)
        modules = dict(meta.named_modules())
        num_layers = getattr(cfg.get_text_config(), "num_hidden_layers", None)
        hidden_size = cfg.get_text_config().hidden_size
    shapes = _target_shapes(modules, list(target_modules))
    found_layers = {n for s in shapes.values() for n in s["layers"]}
    if num_layers is None:
        num_layers = len(found_layers)
    if task_emb_size is None:
        task_emb_size = _encoder_size(encoder_type, encoder_name_or_path, hidden_size, kwargs.get("task_names"))
    if encoder_type == "llm_last_token" and encoder_name_or_path == DEFAULT_ENCODER:
        encoder_name_or_path = name
    return T2LConfig(
        base_model_name_or_path=name or "",
        target_modules=list(target_modules),
        in_features={m: s["in"] for m, s in shapes.items()},
        out_features={m: s["out"] for m, s in shapes.items()},
        module_paths={m: s["path"] for m, s in shapes.items()},
        num_layers=num_layers,
        lora_rank=lora_rank,
        lora_alpha=float(lora_alpha if lora_alpha is not None else 2 * lora_rank),
        head=head,
        encoder_type=encoder_type,
        encoder_name_or_path=encoder_name_or_path,
        task_emb_size=task_emb_size,
        **kwargs,
    )


_LAYER_INDEX = re.compile(r"\.(\d+)\.")
# fields config_from_base_model reads from the base model itself
_BUILT_FROM_BASE = ("base_model_name_or_path", "in_features", "out_features", "module_paths", "num_layers")


def _target_shapes(modules: dict[str, torch.nn.Module], targets: list[str]) -> dict[str, dict]:
    linear_names = sorted({n.rsplit(".", 1)[-1] for n, mod in modules.items() if isinstance(mod, torch.nn.Linear)})
    shapes = {}
    for target in targets:
        found = [(n, mod) for n, mod in modules.items() if n.rsplit(".", 1)[-1] == target and _LAYER_INDEX.search(n)]
        if not found or not all(isinstance(mod, torch.nn.Linear) for _, mod in found):
            raise ValueError(
                f"target module {target!r} is not a per-layer Linear module of this base model; choose from "
                f"{linear_names}."
            )
        templates = {_LAYER_INDEX.sub(".{layer}.", n, count=1) for n, _ in found}
        sizes = {(mod.in_features, mod.out_features) for _, mod in found}
        if len(templates) != 1 or len(sizes) != 1:
            raise ValueError(
                f"target module {target!r} has different paths or shapes across layers ({sorted(templates)[:3]}, "
                f"{sorted(sizes)[:3]}); T2L needs one shape per module type. Pick modules that are the same in every layer."
            )
        (in_f, out_f), path = sizes.pop(), templates.pop()
        layers = [int(_LAYER_INDEX.search(n).group(1)) for n, _ in found]
        shapes[target] = {"in": in_f, "out": out_f, "path": path, "layers": layers}
    return shapes


def _encoder_size(encoder_type: str, encoder: str | None, hidden_size: int, task_names) -> int:
    if encoder_type == "one_hot":
        return len(task_names or [])
    if encoder_type == "llm_last_token":
        if encoder in (None, DEFAULT_ENCODER):
            return hidden_size
        return AutoConfig.from_pretrained(resolve(encoder)).hidden_size
    if encoder == DEFAULT_ENCODER:
        return 384
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve(encoder), device="cpu").get_embedding_dimension()


# ---- helpers -------------------------------------------------------------------------------------------------------


def check_base_model(lora: GeneratedLoRA, base_model: torch.nn.Module) -> None:
    """Raise a `ValueError` if `base_model` lacks a module the adapter targets, or its shape differs."""
    modules = dict(base_model.named_modules())
    for key, tensor in lora.state_dict.items():
        if not key.endswith("lora_A.weight"):
            continue
        path = key[len(PEFT_PREFIX) : -len(".lora_A.weight")]
        module = modules.get(path)
        module = getattr(module, "base_layer", module)  # already wrapped by PEFT
        if module is None:
            raise ValueError(
                f"The base model has no module {path!r}, which this adapter targets (it was generated for "
                f"{lora.lora_config.base_model_name_or_path!r}); load that base model instead."
            )
        b = lora.state_dict[key.replace("lora_A", "lora_B")]
        if (module.in_features, module.out_features) != (tensor.shape[1], b.shape[0]):
            raise ValueError(
                f"Module {path!r} of the base model is {module.in_features}->{module.out_features}, but the adapter "
                f"expects {tensor.shape[1]}->{b.shape[0]} (generated for {lora.lora_config.base_model_name_or_path!r}); "
                "use the base model the T2L model was built for."
            )


def _first_lora_weight(peft_model: PeftModel, adapter_name: str) -> torch.Tensor:
    for name, param in peft_model.named_parameters():
        if f"lora_A.{adapter_name}." in name:
            return param
    raise ValueError(f"adapter {adapter_name!r} has no LoRA weights in this model.")


def _with_adapter_name(key: str, adapter_name: str) -> str:
    return key.replace(".lora_A.weight", f".lora_A.{adapter_name}.weight").replace(
        ".lora_B.weight", f".lora_B.{adapter_name}.weight"
    )


def _load_state_dict(peft_model: PeftModel, lora: GeneratedLoRA, adapter_name: str) -> None:
    # PEFT keeps new LoRA weights in float32 under a bf16/fp16 base; we want the adapter in the base model's dtype
    for module in peft_model.modules():
        if isinstance(module, LoraLayer) and adapter_name in module.lora_A:
            dtype = module.get_base_layer().weight.dtype
            module.lora_A[adapter_name].to(dtype)
            module.lora_B[adapter_name].to(dtype)
    target = _first_lora_weight(peft_model, adapter_name)
    tensors = {k: v.to(target.device, target.dtype) for k, v in lora.state_dict.items()}
    result = set_peft_model_state_dict(peft_model, tensors, adapter_name=adapter_name)
    missing = [k for k in result.missing_keys if "lora_" in k and f".{adapter_name}." in k]
    if missing or result.unexpected_keys:
        raise ValueError(
            f"The adapter does not fit this model: {len(missing)} LoRA weights missing (e.g. {missing[:2]}), "
            f"{len(result.unexpected_keys)} unexpected (e.g. {result.unexpected_keys[:2]})."
        )
