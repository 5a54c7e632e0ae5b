"""Configuration of a Text-to-LoRA (T2L) hypernetwork.

Self-contained (transformers only) so it can ship next to the weights as remote code.
"""

from __future__ import annotations

from dataclasses import field

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

HEAD_VARIANTS = ("L", "M", "S")
ENCODER_TYPES = ("sentence_transformers", "llm_last_token", "one_hot", "cls_token")
RANK_EMBEDDINGS = ("learned", "rotary")
# T2L LoRAs are rank 8-32 in practice; past this the heads alone need gigabytes, so a typo (10**6) fails at once
MAX_LORA_RANK = 256


@strict
class T2LConfig(PreTrainedConfig):
    r"""Everything needed to build a T2L hypernetwork without loading the base LLM.

    Args:
        base_model_name_or_path (`str`):
            Hub id or folder of the causal LM whose LoRAs this hypernetwork writes. Recorded in every generated
            adapter's `adapter_config.json`.
        target_modules (`list[str]`):
            Short names of the Linear modules that receive a LoRA, e.g. `["q_proj", "v_proj"]`.
        in_features (`dict[str, int]`), out_features (`dict[str, int]`):
            Input and output size of each target module (the same in every layer).
        module_paths (`dict[str, str]`):
            Path of each target module inside the base model, with `{layer}` for the layer index, e.g.
            `"model.layers.{layer}.self_attn.q_proj"`. Used to name the PEFT state-dict keys.
        num_layers (`int`):
            Number of transformer layers of the base model; one LoRA per (layer, target module).
        lora_rank (`int`), lora_alpha (`float`), lora_dropout (`float`), use_rslora (`bool`):
            The LoRA that is generated; PEFT scales it by `lora_alpha / lora_rank` (or `/ sqrt(rank)` with rsLoRA).
        head (`str`):
            `"L"`: one head emits A and B at once (r*(in+out) outputs). `"M"`: one head shared by A and B, told apart by
            learned output embeddings (r*max(in,out) outputs). `"S"`: the shared head emits one rank row at a time
            (max(in,out) outputs), told apart by rank embeddings (see `rank_embedding`).
        rank_embedding (`str`):
            S head only: `"learned"` (an embedding per rank row, added after the trunk) or `"rotary"` (a rotary
            position embedding over the rank axis, then the trunk's second block again; the reference
            implementation's `autoreg_gen` without `learnable_pos_emb`).
        latent_size (`int`):
            Width of the trunk. The encoded task takes half of it, layer and module embeddings a quarter each.
        head_in_size (`int`):
            Width of the last trunk layer, the input of the heads.
        dropout (`float`):
            Dropout inside the trunk (training only).
        head_use_bias (`bool`):
            Whether heads have a bias; with a zero-initialised head weight the bias holds the initial LoRA.
        use_output_affine (`bool`):
            Keep per-(layer, module) buffers `output_scale`/`output_shift` applied to the generated A and B. SFT uses the
            shift as an offset (e.g. a multi-task LoRA); reconstruction uses them to undo per-position z-scoring.
        encoder_type (`str`):
            How a description becomes a task embedding: `"sentence_transformers"`, `"llm_last_token"` (hidden state
            of the last token of an LLM), `"cls_token"` (hidden state of the first token of a transformers encoder,
            e.g. gte-large-en-v1.5 as the reference implementation uses it) or `"one_hot"` (a known task id, for
            reconstruction). Text embeddings are L2-normalised and scaled by `sqrt(task_emb_size)`.
        encoder_name_or_path (`str`, *optional*):
            Hub id or folder of the sentence encoder / LLM. Defaults to the base model for `"llm_last_token"`.
        task_emb_size (`int`):
            Size of the task embedding the encoder produces (384 for all-MiniLM-L6-v2, number of tasks for one-hot).
        encoder_max_length (`int`):
            Longest description, in encoder tokens; longer ones are truncated with a warning.
        encoder_trust_remote_code (`bool`):
            Load the text encoder with `trust_remote_code=True` (gte-large-en-v1.5 ships its own modelling code).
        add_full_stop (`bool`):
            Append "." to a description that ends with a letter before encoding it, as the reference implementation
            does; checkpoints trained there saw descriptions formatted this way.
        task_names (`list[str]`, *optional*):
            Names of the known tasks, in one-hot order (required for `"one_hot"`), or the training tasks.
        training_summary (`dict`, *optional*):
            Free-form record of how the weights were trained (data, steps, regime); shown in the model card.
    """

    model_type = "t2l"

    # The defaults describe SmolLM2-135M-Instruct (the embedded default base model), so `T2LConfig()` is valid.
    base_model_name_or_path: str = field(
        default="HuggingFaceTB/SmolLM2-135M-Instruct", metadata={"help": "Causal LM whose LoRAs are written."}
    )
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "v_proj"], metadata={"help": "Modules to adapt, e.g. [q_proj, v_proj]."}
    )
    in_features: dict[str, int] = field(
        default_factory=lambda: {"q_proj": 576, "v_proj": 576}, metadata={"help": "Input size of each target module."}
    )
    out_features: dict[str, int] = field(
        default_factory=lambda: {"q_proj": 576, "v_proj": 192}, metadata={"help": "Output size of each target module."}
    )
    module_paths: dict[str, str] = field(
        default_factory=dict, metadata={"help": "Path of each target module with {layer}, for the PEFT keys."}
    )
    num_layers: int = field(default=30, metadata={"help": "Transformer layers of the base model."})
    lora_rank: int = field(default=8, metadata={"help": "Rank of the generated LoRA."})
    lora_alpha: float = field(default=16.0, metadata={"help": "Alpha of the generated LoRA (scaling alpha / rank)."})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout (training, and the exported config)."})
    use_rslora: bool = field(default=False, metadata={"help": "Scale by alpha / sqrt(rank) (rsLoRA)."})
    head: str = field(default="M", metadata={"help": f"Output head, one of {HEAD_VARIANTS}."})
    rank_embedding: str = field(
        default="learned", metadata={"help": f"S head only: how rank rows are told apart, one of {RANK_EMBEDDINGS}."}
    )
    latent_size: int = field(default=128, metadata={"help": "Width of the hypernetwork trunk (multiple of 4)."})
    head_in_size: int = field(default=512, metadata={"help": "Width of the last trunk layer."})
    dropout: float = field(default=0.05, metadata={"help": "Dropout inside the hypernetwork trunk (training only)."})
    head_use_bias: bool = field(default=True, metadata={"help": "Heads have a bias (it holds the initial LoRA)."})
    use_output_affine: bool = field(
        default=False, metadata={"help": "Per-(layer, module) scale/shift buffers on the generated A and B."}
    )
    encoder_type: str = field(
        default="sentence_transformers", metadata={"help": f"How a description is encoded, one of {ENCODER_TYPES}."}
    )
    encoder_name_or_path: str | None = field(
        default="sentence-transformers/all-MiniLM-L6-v2",
        metadata={"help": "Description encoder (not used with encoder_type=one_hot)."},
    )
    task_emb_size: int = field(default=384, metadata={"help": "Size of the task embedding the encoder produces."})
    encoder_max_length: int = field(
        default=256, metadata={"help": "Longest description in encoder tokens (longer: truncated, with a warning)."}
    )
    encoder_trust_remote_code: bool = field(
        default=False, metadata={"help": "Load the text encoder with trust_remote_code=True."}
    )
    add_full_stop: bool = field(
        default=False, metadata={"help": "Append '.' to a description ending in a letter, as the reference does."}
    )
    task_names: list[str] | None = field(
        default=None, metadata={"help": "Known tasks in one-hot order (one_hot), or the training tasks."}
    )
    training_summary: dict | None = field(default=None, metadata={"help": "How the weights were trained (card)."})

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if isinstance(self.target_modules, str):  # list("q_proj") would silently give ['q', '_', 'p', ...]
            raise ValueError(
                f"T2LConfig.target_modules={self.target_modules!r} is a string; pass a list, e.g. "
                f"[{self.target_modules!r}]."
            )
        self.target_modules = list(self.target_modules)
        for name in self.target_modules:  # llama-style paths keep a bare config usable in tests
            self.module_paths.setdefault(name, _default_module_path(name))
        self.check_fields()

    def check_fields(self) -> None:
        """Raise a `ValueError` naming the field, the value and the fix for the first inconsistent field."""

        def fail(attr: str, value, fix: str):
            raise ValueError(f"T2LConfig.{attr}={value!r} is invalid: {fix}")

        if not self.target_modules:
            fail("target_modules", self.target_modules, "give at least one module name, e.g. ['q_proj', 'v_proj'].")
        if len(set(self.target_modules)) != len(self.target_modules):
            fail("target_modules", self.target_modules, "remove the duplicate names.")
        for name in self.target_modules:
            for attr in ("in_features", "out_features"):
                size = getattr(self, attr).get(name)
                if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
                    fail(
                        f"{attr}[{name!r}]",
                        size,
                        "give a positive int for every target module (T2LModel.from_base_model reads them for you).",
                    )
            if "{layer}" not in self.module_paths[name]:
                fail(f"module_paths[{name!r}]", self.module_paths[name], "include '{layer}' for the layer index.")
        extra = sorted(set(self.in_features) - set(self.target_modules))
        if extra:
            fail("in_features", self.in_features, f"remove {extra}, which are not in target_modules.")
        for attr in ("num_layers", "lora_rank", "latent_size", "head_in_size", "task_emb_size", "encoder_max_length"):
            value = getattr(self, attr)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                fail(attr, value, "use a positive integer.")
        if self.lora_rank > MAX_LORA_RANK:
            fail("lora_rank", self.lora_rank, f"use at most {MAX_LORA_RANK} (T2L LoRAs are usually rank 8-32).")
        if self.latent_size % 4:
            fail("latent_size", self.latent_size, "use a multiple of 4 (task, layer and module embeddings split it).")
        alpha = self.lora_alpha
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            fail("lora_alpha", self.lora_alpha, "use a positive number (PEFT scales by lora_alpha / lora_rank).")
        for attr in ("lora_dropout", "dropout"):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                fail(attr, value, "use a probability in [0, 1).")
        if self.head not in HEAD_VARIANTS:
            fail("head", self.head, f"use one of {HEAD_VARIANTS}.")
        if self.rank_embedding not in RANK_EMBEDDINGS:
            fail("rank_embedding", self.rank_embedding, f"use one of {RANK_EMBEDDINGS}.")
        if self.encoder_type not in ENCODER_TYPES:
            fail("encoder_type", self.encoder_type, f"use one of {ENCODER_TYPES}.")
        if self.encoder_type == "one_hot":
            if not self.task_names:
                fail("task_names", self.task_names, "a one-hot encoder needs the list of task names.")
            if self.task_emb_size != len(self.task_names):
                fail("task_emb_size", self.task_emb_size, f"set it to len(task_names) = {len(self.task_names)}.")
        elif self.encoder_type in ("sentence_transformers", "cls_token") and not self.encoder_name_or_path:
            fail("encoder_name_or_path", self.encoder_name_or_path, f"name the {self.encoder_type} encoder model.")

    @property
    def scaling(self) -> float:
        """The factor PEFT multiplies `B @ A` by."""
        return self.lora_alpha / (self.lora_rank**0.5 if self.use_rslora else self.lora_rank)

    @property
    def max_features(self) -> dict[str, int]:
        return {m: max(self.in_features[m], self.out_features[m]) for m in self.target_modules}


def _default_module_path(name: str) -> str:
    block = "self_attn" if name in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
    return f"model.layers.{{layer}}.{block}.{name}"
