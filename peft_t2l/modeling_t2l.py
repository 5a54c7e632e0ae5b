"""The Text-to-LoRA hypernetwork (Charakorn et al., ICML 2025).

For every (description, target module, layer) the input is the concatenation of the encoded task embedding, a learned
module-type embedding and a learned layer-index embedding; an MLP trunk feeds one head per module type. The whole grid
(descriptions x modules x layers) goes through the trunk in one batched forward; only the heads, whose output sizes
differ per module type, loop over the (few) module types.

Self-contained (torch, transformers and `configuration_t2l` only) so it ships next to the weights as remote code:
`AutoModel.from_pretrained(folder, trust_remote_code=True)` runs this file without peft-t2l installed. Text in,
adapter out (`generate_lora`, the text encoder, the model card) is the package's subclass, `peft_t2l.model.T2LModel`.
Parameter names follow the reference implementation (SakanaAI/text-to-lora) so its checkpoints map onto this module;
see docs/interop.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_t2l import T2LConfig


@dataclass
class T2LOutput(ModelOutput):
    """LoRA factors for a batch of descriptions, per target module.

    Args:
        lora_A (`dict[str, torch.Tensor]`): module name -> `[batch, num_layers, rank, in_features]`.
        lora_B (`dict[str, torch.Tensor]`): module name -> `[batch, num_layers, out_features, rank]`.
    """

    lora_A: dict[str, torch.Tensor] | None = None
    lora_B: dict[str, torch.Tensor] | None = None


class TaskEmbeddingProjection(nn.Module):
    """Maps a task embedding (sentence encoder, LLM state or one-hot) to half the trunk width."""

    def __init__(self, task_emb_size: int, encoded_size: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(task_emb_size, encoded_size), nn.LayerNorm(encoded_size))

    def forward(self, task_embeddings: torch.Tensor) -> torch.Tensor:
        return self.mlp(task_embeddings)


class ResidualMLP(nn.Module):
    """Pre-norm residual MLP block of the trunk."""

    def __init__(self, size: int, dropout: float):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.LayerNorm(size),
            nn.Linear(size, size * 4),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(size * 4, size),
            nn.SiLU(),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _can_overwrite(self):
            return _run(self.mlp, x).add_(x)
        return x + self.mlp(x)


class OutputEmbeddings(nn.Module):
    """The learned embeddings that tell a shared (M or S) head whether it writes A or B."""

    def __init__(self, size: int):
        super().__init__()
        self.A = nn.Parameter(torch.empty(size))
        self.B = nn.Parameter(torch.empty(size))


class LoRAHead(nn.Linear):
    """The output layer for one target module type; a separate class so it gets the LoRA-aware init."""

    def __init__(self, in_size: int, out_size: int, *, bias: bool, module_name: str):
        super().__init__(in_size, out_size, bias=bias)
        self.module_name = module_name


class T2LPreTrainedModel(PreTrainedModel):
    config_class = T2LConfig
    base_model_prefix = "t2l"
    main_input_name = "task_embeddings"
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # torch's own defaults for the trunk; the heads get the reference's "bias holds the initial LoRA" init
        if isinstance(module, LoRAHead):
            self._init_head(module)
        elif isinstance(module, OutputEmbeddings):
            init.normal_(module.A, 0.0, 1.0)
            init.normal_(module.B, 0.0, 1.0)
        elif isinstance(module, nn.Linear):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                bound = 1 / math.sqrt(module.in_features)
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=1.0)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)

    def _init_head(self, head: LoRAHead) -> None:
        """Zero weight and a bias that holds a fresh LoRA init (A kaiming-uniform, B zero), as in the paper."""
        c, m = self.config, head.module_name
        init.zeros_(head.weight)
        if head.bias is None:
            return
        in_f, max_f, r = c.in_features[m], c.max_features[m], c.lora_rank
        lora_a = torch.empty(r, in_f)
        nn.init.kaiming_uniform_(lora_a, a=math.sqrt(5))  # PEFT's LoRA A init
        if c.head == "L":
            bias = torch.cat([lora_a.flatten(), torch.zeros(r * c.out_features[m])])
        else:
            padded = torch.zeros(r, max_f)
            padded[:, :in_f] = lora_a
            # A and B share the head, so both start from this bias; sqrt(2) (and sqrt(r) for S) match grad scales
            bias = padded.flatten() / math.sqrt(2) if c.head == "M" else padded[0] / math.sqrt(2 * r)
        init.copy_(head.bias, bias.to(head.bias.dtype))


class T2LModel(T2LPreTrainedModel):
    r"""Text-to-LoRA hypernetwork: task embeddings in, LoRA A and B for every (layer, target module) out.

    Example:
        ```python
        >>> from peft_t2l import T2LConfig, T2LModel
        >>> model = T2LModel(T2LConfig())  # SmolLM2-135M shapes, untrained
        >>> out = model(torch.randn(2, 384))
        >>> out.lora_A["q_proj"].shape
        torch.Size([2, 30, 8, 576])
        ```
    """

    def __init__(self, config: T2LConfig):
        super().__init__(config)
        config.check_fields()
        latent, modules, rank = config.latent_size, config.target_modules, config.lora_rank
        self.task_encoder = TaskEmbeddingProjection(config.task_emb_size, latent // 2)
        self.layer_depth_encoder = nn.Sequential(
            nn.Embedding(config.num_layers, latent // 4), nn.LayerNorm(latent // 4)
        )
        self.layer_type_encoder = nn.Sequential(nn.Embedding(len(modules), latent // 4), nn.LayerNorm(latent // 4))
        p = config.dropout
        self.mixer = nn.Sequential(
            nn.Dropout(p), nn.Linear(latent, latent * 4), nn.SiLU(), nn.Dropout(p), nn.Linear(latent * 4, latent), nn.SiLU(), nn.Dropout(p)
        )  # fmt: skip
        self.mlp1 = ResidualMLP(latent, p)
        self.mlp2 = ResidualMLP(latent, p)
        self.mlp3 = nn.Sequential(
            nn.LayerNorm(latent), nn.Linear(latent, latent * 4), nn.SiLU(), nn.Dropout(p), nn.Linear(latent * 4, config.head_in_size), nn.SiLU()
        )  # fmt: skip
        if config.head in ("M", "S"):
            # learned output embeddings tell the shared head whether it writes A or B
            self.out_emb = nn.ModuleDict({m: OutputEmbeddings(latent) for m in modules})
            self.out_emb_norm = nn.LayerNorm(latent)
        if config.head == "S" and config.rank_embedding == "learned":
            # learned rank embeddings tell the head which rank row it writes (rotary ones have no parameters)
            self.pos_emb = nn.Sequential(nn.Embedding(rank, latent), nn.LayerNorm(latent))
        self.heads = nn.ModuleDict(
            {
                m: LoRAHead(config.head_in_size, self._head_out_size(m), bias=config.head_use_bias, module_name=m)
                for m in modules
            }
        )
        if config.use_output_affine:
            L = config.num_layers
            for m in modules:
                i, o = config.in_features[m], config.out_features[m]
                self.register_buffer(f"output_scale_A_{m}", torch.ones(L, rank, i))
                self.register_buffer(f"output_shift_A_{m}", torch.zeros(L, rank, i))
                self.register_buffer(f"output_scale_B_{m}", torch.ones(L, o, rank))
                self.register_buffer(f"output_shift_B_{m}", torch.zeros(L, o, rank))
        self.post_init()

    def _head_out_size(self, module: str) -> int:
        c = self.config
        if c.head == "L":
            return c.lora_rank * (c.in_features[module] + c.out_features[module])
        if c.head == "M":
            return c.lora_rank * c.max_features[module]
        return c.max_features[module]

    def forward(self, task_embeddings: torch.Tensor) -> T2LOutput:
        """Generate LoRA factors for every (layer, target module) for a batch of task embeddings.

        Args:
            task_embeddings (`torch.Tensor` of shape `[batch, task_emb_size]`): output of the task encoder.
        """
        c = self.config
        if task_embeddings.ndim != 2 or task_embeddings.shape[-1] != c.task_emb_size:
            raise ValueError(
                f"task_embeddings has shape {tuple(task_embeddings.shape)}; expected [batch, {c.task_emb_size}] "
                f"(the config's task_emb_size). Encode descriptions with model.embed_descriptions(...)."
            )
        batch, num_layers, rank = task_embeddings.shape[0], c.num_layers, c.lora_rank
        x = self.mlp1(self._mix(task_embeddings.to(self.dtype)))  # [B, M, L, D]

        if c.head == "L":
            h = _run(self.mlp3, self.mlp2(x))  # [B, M, L, H]
        else:
            out_emb = torch.stack([torch.stack([self.out_emb[m].A, self.out_emb[m].B]) for m in c.target_modules])
            x = self.mlp2(x[:, :, :, None, :] + self.out_emb_norm(out_emb)[None, :, None, :, :])  # [B, M, L, 2, D]
            if c.head == "S":
                x = self._add_rank_embedding(x)  # [B, M, L, 2, r, D]
            h = _run(self.mlp3, x)  # [B, M, L, 2, H] or [B, M, L, 2, r, H]

        lora_A, lora_B = {}, {}
        for i, m in enumerate(c.target_modules):
            in_f, out_f = c.in_features[m], c.out_features[m]
            if c.head == "L":
                # 2-D input: one GEMM with the bias fused, instead of a batched matmul over a strided view
                y = self.heads[m](h[:, i].reshape(batch * num_layers, -1))  # [B*L, r*(in+out)]
                a, b = y.split([rank * in_f, rank * out_f], dim=-1)
                a = a.reshape(batch, num_layers, rank, in_f)  # [B, L, r, in]
                b = b.reshape(batch, num_layers, rank, out_f)  # [B, L, r, out]
            else:
                # the shared head pads every rank row to max(in, out); compute only the columns A and B keep
                grid = (batch, num_layers, rank)
                a = self._shared_head(m, h[:, i, :, 0], in_f).reshape(*grid, in_f)  # [B, L, r, in]
                b = self._shared_head(m, h[:, i, :, 1], out_f).reshape(*grid, out_f)  # [B, L, r, out]
            b = b.transpose(-1, -2)  # [B, L, out, r]
            if c.use_output_affine:
                a = torch.addcmul(getattr(self, f"output_shift_A_{m}"), a, getattr(self, f"output_scale_A_{m}"))
                b = torch.addcmul(getattr(self, f"output_shift_B_{m}"), b, getattr(self, f"output_scale_B_{m}"))
            lora_A[m], lora_B[m] = a, b
        return T2LOutput(lora_A=lora_A, lora_B=lora_B)

    def _mix(self, task_embeddings: torch.Tensor) -> torch.Tensor:
        """The mixer over the (description, module, layer) grid: `[B, task_emb_size]` -> `[B, M, L, D]`."""
        c, device = self.config, task_embeddings.device
        task = self.task_encoder(task_embeddings)  # [B, D/2]
        depth = self.layer_depth_encoder(torch.arange(c.num_layers, device=device))  # [L, D/4]
        mtype = self.layer_type_encoder(torch.arange(len(c.target_modules), device=device))  # [M, D/4]
        first, rest = self.mixer[1], self.mixer[2:]
        if self.training and c.dropout > 0:
            # the input dropout draws an independent mask per grid cell, so the grid must exist before it
            grid = (task.shape[0], mtype.shape[0], depth.shape[0])
            x = torch.cat(
                [
                    task[:, None, None, :].expand(*grid, -1),  # [B, M, L, D/2]
                    depth[None, None, :, :].expand(*grid, -1),  # [B, M, L, D/4]
                    mtype[None, :, None, :].expand(*grid, -1),  # [B, M, L, D/4]
                ],
                dim=-1,
            )  # [B, M, L, D]
            return rest(first(self.mixer[0](x)))
        # W [t; d; m] = W_t t + W_d d + W_m m: project each part once and broadcast, instead of B*M*L concatenated rows
        w_task, w_depth, w_type = first.weight.split([task.shape[-1], depth.shape[-1], mtype.shape[-1]], dim=1)
        x = (
            F.linear(task, w_task, first.bias)[:, None, None, :]  # [B, 1, 1, 4D]
            + F.linear(mtype, w_type)[None, :, None, :]  # [1, M, 1, 4D]
            + F.linear(depth, w_depth)[None, None, :, :]  # [1, 1, L, 4D]
        )  # [B, M, L, 4D]
        return _run(rest, x)

    def _add_rank_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """S head: one trunk row per rank, told apart by a learned or a rotary rank embedding. `[..., D]` -> `[..., r, D]`."""
        rank = self.config.lora_rank
        if self.config.rank_embedding == "learned":
            ranks = self.mlp2(self.pos_emb(torch.arange(rank, device=x.device)))  # [r, D]
            return x[..., None, :] + ranks
        x = x[..., None, :].expand(*x.shape[:-1], rank, x.shape[-1])  # [..., r, D]
        return self.mlp2(_rotate_ranks(x))

    def _shared_head(self, module: str, h: torch.Tensor, features: int) -> torch.Tensor:
        """The first `features` columns of every rank row of a shared (M/S) head. `[..., H]` -> `[..., r*features]`."""
        head = self.heads[module]
        weight, bias, padded = head.weight, head.bias, self.config.max_features[module]
        if features < padded:
            # M: weight rows are (rank, padded) -> a strided slice; S: rows are (padded,) -> a prefix
            rows = weight.shape[0] // padded
            weight = weight.view(rows, padded, -1)[:, :features].reshape(rows * features, -1)
            bias = None if bias is None else bias.view(rows, padded)[:, :features].reshape(-1)
        return F.linear(h.reshape(-1, h.shape[-1]), weight, bias)  # [rows, H] @ [H, r*features]: one GEMM

    # ---- text in, adapter out: the peft-t2l package's subclass implements these -------------------------------
    # This file ships as remote code and imports nothing but torch, transformers and the config, so the methods that
    # need a sentence encoder and PEFT exist here only to say where they live.

    def embed_descriptions(self, descriptions: str | list[str]) -> torch.Tensor:
        """Needs the peft-t2l package (`peft_t2l.T2LModel`); raises an `ImportError` that says how to get it."""
        raise ImportError(_needs_package("embed_descriptions"))

    def generate_lora(self, descriptions: str | list[str], **kwargs):
        """Needs the peft-t2l package (`peft_t2l.T2LModel`); raises an `ImportError` that says how to get it."""
        raise ImportError(_needs_package("generate_lora"))

    @classmethod
    def from_base_model(cls, base_model, **kwargs):
        """Needs the peft-t2l package (`peft_t2l.T2LModel`); raises an `ImportError` that says how to get it."""
        raise ImportError(_needs_package("from_base_model"))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, strict: bool = True, **kwargs):
        """As `PreTrainedModel.from_pretrained`, but a folder that is not a T2L model is refused, and so are weights
        with missing, unexpected or wrongly shaped tensors (transformers would silently initialise them at random).

        Args:
            pretrained_model_name_or_path: folder or Hub id of a saved T2L model.
            strict: `False` accepts missing/unexpected tensors (they keep their fresh initialisation).
            **kwargs: as for `PreTrainedModel.from_pretrained` (`dtype`, `revision`, `output_loading_info`, ...).

        Example:
            ```python
            >>> t2l = T2LModel.from_pretrained("my-t2l")  # ValueError if a tensor is missing
            >>> t2l = T2LModel.from_pretrained("my-t2l", strict=False)  # fresh weights where tensors are missing
            ```
        """
        if kwargs.get("config") is None:
            _check_model_type(pretrained_model_name_or_path, kwargs)
        want_info = kwargs.pop("output_loading_info", False)
        try:
            model, info = super().from_pretrained(
                pretrained_model_name_or_path, *model_args, output_loading_info=True, **kwargs
            )
        except RuntimeError as err:
            if "mismatch" not in str(err):
                raise
            raise ValueError(
                f"The weights in {pretrained_model_name_or_path} have tensors whose shapes do not fit their "
                "config.json (the load report above lists them); they belong to another T2L model: save or download "
                "the model again."
            ) from None
        problems = {
            k: sorted(map(str, info.get(k) or [])) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")
        }
        if strict and any(problems.values()):
            found = "; ".join(
                f"{k.replace('_', ' ')}: {v[:8]}{' ...' if len(v) > 8 else ''}" for k, v in problems.items() if v
            )
            raise ValueError(
                f"The weights in {pretrained_model_name_or_path} do not match a T2L model with its config.json ({found}); "
                "save or download the model again, or pass strict=False to initialise the missing tensors at random."
            )
        return (model, info) if want_info else model


def _check_model_type(name_or_path, kwargs: dict) -> None:
    """Refuse a folder or Hub id whose config.json is some other model: it would load as a random T2L."""
    hub = {k: kwargs[k] for k in ("cache_dir", "revision", "token", "local_files_only", "subfolder") if k in kwargs}
    try:
        config, _ = T2LConfig.get_config_dict(name_or_path, **hub)
    except (OSError, ValueError):
        return  # transformers' own error about the missing or unreadable config is clearer
    found = config.get("model_type")
    if found != T2LConfig.model_type:
        raise ValueError(
            f"{name_or_path} holds a model of type {found!r}, not a T2L model (model_type 't2l'); pass the folder or "
            "Hub id of a saved T2L model."
        )


def _can_overwrite(module: nn.Module) -> bool:
    """Activations may be computed in place: nothing records them for a backward pass and no dropout is drawn."""
    return not (torch.is_grad_enabled() or module.training)


def _run(block: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """`block(x)`, with SiLU in place when `_can_overwrite` (fewer, smaller allocations for the large grid tensors).

    Every SiLU here follows a Linear, so it only ever overwrites a tensor the block itself just made.
    """
    if not _can_overwrite(block):
        return block(x)
    for layer in block:
        if isinstance(layer, nn.SiLU):
            x = F.silu(x, inplace=True)
        elif not isinstance(layer, nn.Dropout):
            x = layer(x)
    return x


def _rotate_ranks(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding over the rank axis (positions 0..r-1), as Llama's rotary embedding of width D.

    `x`: `[..., r, D]`; the two halves of D are rotated by angle `position * base^(-2i/D)`.
    """
    rank, size = x.shape[-2], x.shape[-1]
    inv_freq = 1.0 / (base ** (torch.arange(0, size, 2, device=x.device, dtype=torch.int64).float() / size))  # [D/2]
    angles = torch.arange(rank, device=x.device, dtype=torch.float32)[:, None] * inv_freq  # [r, D/2]
    angles = torch.cat([angles, angles], dim=-1)  # [r, D]
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    first, second = x[..., : size // 2], x[..., size // 2 :]
    return x * cos + torch.cat([-second, first], dim=-1) * sin


def _needs_package(method: str) -> str:
    """Why `method` is missing from this class and how to get it (the package is not imported here, on purpose)."""
    return (
        f"T2LModel.{method} needs the peft-t2l package (text encoders, PEFT): `pip install peft-t2l`, then load the "
        "model with peft_t2l.T2LModel.from_pretrained(...) (or `import peft_t2l` before AutoModel.from_pretrained, "
        "which then returns the package's class). Without it this model still maps task embeddings to LoRA factors: "
        "model(task_embeddings)."
    )


__all__ = ["T2LModel", "T2LOutput", "T2LPreTrainedModel"]
