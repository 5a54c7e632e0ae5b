"""The package's `T2LModel`: the hypernetwork of `modeling_t2l`, plus text in and adapter out.

`modeling_t2l.T2LModel` is the file a saved folder ships as remote code, so it imports nothing but torch, transformers
and its config. This subclass, under the same name, adds what needs the rest of the package: the text encoder it owns
(`text_encoder`, `set_text_encoder`, `embed_descriptions`), `generate_lora`, `from_base_model`, and a `save_pretrained`
/ `push_to_hub` that write the folder atomically with a model card. `import peft_t2l` registers it for `AutoModel`;
the folders it saves still name the pure class in `auto_map` and carry only the pure files, so they load with
`trust_remote_code=True` where this package is not installed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from transformers.dynamic_module_utils import get_relative_import_files

from . import modeling_t2l
from .base_shapes import config_from_base_model
from .configuration_t2l import T2LConfig
from .encoders import TaskEncoder, add_full_stop, check_descriptions, load_text_encoder
from .generated_lora import GeneratedLoRA
from .hub import push_t2l_to_hub, t2l_model_card
from .modeling_t2l import T2LOutput, T2LPreTrainedModel
from .peft_format import lora_config, lora_state_dict
from .safe_io import is_t2l_folder, write_folder

# descriptions per hypernetwork forward: bounds the peak memory of a large batch (each row's output is ~MiBs)
GENERATE_CHUNK = 32
# what a saved folder's config.json names for AutoModel: the pure class, in the form transformers' custom_object_save
# writes ("<module file>.<class>"), so trust_remote_code finds it among the copied files
REMOTE_MODEL_CLASS = f"{modeling_t2l.__name__.rsplit('.', 1)[-1]}.{modeling_t2l.T2LModel.__name__}"


class T2LModel(modeling_t2l.T2LModel):
    r"""Text-to-LoRA hypernetwork: a description in, a PEFT LoRA for every (layer, target module) out.

    The forward (task embeddings -> LoRA factors) is `modeling_t2l.T2LModel`'s; this class adds the text encoder,
    adapter generation, building from a base model, and saving with a model card.

    Example:
        ```python
        >>> from peft_t2l import T2LModel
        >>> t2l = T2LModel.from_base_model("HuggingFaceTB/SmolLM2-135M-Instruct")  # untrained
        >>> lora = t2l.generate_lora("classify movie reviews as positive or negative")
        >>> lora.save_pretrained("sentiment-lora")  # a plain PEFT LoRA folder
        ```
    """

    # transformers' save_pretrained copies the file of a class registered for an auto class and names it in
    # auto_map; this file needs the package, so save_pretrained writes the pure modeling_t2l.py itself instead
    _auto_class = None

    def __init__(self, config: T2LConfig):
        super().__init__(config)
        self.set_text_encoder(None)

    # ---- descriptions in --------------------------------------------------------------------------------------

    @property
    def text_encoder(self) -> TaskEncoder:
        """The encoder that turns descriptions into task embeddings: the one given to `set_text_encoder`, else the
        one the config names (loaded on first use, on this model's device)."""
        if self._text_encoder is None:
            self.set_text_encoder(load_text_encoder(self.config, device=self.device))
        return self._text_encoder

    def set_text_encoder(self, encoder: TaskEncoder | None) -> None:
        """Read descriptions with `encoder` instead of the one the config names (`None`: load that one on next use).

        Args:
            encoder: any object with `encode(list[str]) -> Tensor [batch, task_emb_size]`, e.g. a
                `peft_t2l.encoders` class.

        Example:
            ```python
            >>> t2l.set_text_encoder(HashingEncoder(t2l.config.task_emb_size))  # no download, for tests
            ```
        """
        # kept out of nn.Module's registry even when the encoder is a Module: it is not part of the weights, so it is
        # never saved with them, nor handed to an optimizer through model.parameters()
        self.__dict__["_text_encoder"] = encoder

    def embed_descriptions(self, descriptions: str | list[str]) -> torch.Tensor:
        """Task embeddings `[batch, task_emb_size]` for descriptions, on this model's device and in float32.

        Args:
            descriptions: one description or a list of them.

        Example:
            ```python
            >>> t2l.embed_descriptions(["translate to French", "summarise news"]).shape
            torch.Size([2, 384])
            ```
        """
        texts = check_descriptions(descriptions)
        if self.config.add_full_stop:  # the reference's checkpoints were trained on descriptions ending in "."
            texts = [add_full_stop(t) for t in texts]
        return self.text_encoder.encode(texts).to(self.device)

    # ---- adapters out -----------------------------------------------------------------------------------------

    @torch.no_grad()
    def generate_lora(
        self,
        descriptions: str | list[str],
        *,
        task_embeddings: torch.Tensor | None = None,
        batch_size: int = GENERATE_CHUNK,
    ) -> GeneratedLoRA | list[GeneratedLoRA]:
        """Turn description(s) into PEFT LoRA adapter(s) with batched forwards of the hypernetwork.

        Generation runs on this model's device and in its dtype. Each adapter owns its tensors (no views into the
        batch), so keeping one adapter keeps only its own memory.

        Args:
            descriptions: one description (returns one `GeneratedLoRA`) or a list (returns a list, in order).
            task_embeddings: precomputed `[batch, task_emb_size]` embeddings, to skip the text encoder.
            batch_size: descriptions per forward; a long list is generated in chunks of this size to bound memory.

        Example:
            ```python
            >>> lora = t2l.generate_lora("solve grade-school math word problems")
            >>> loras = t2l.generate_lora(["translate to French", "summarise news articles"])
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
        source = self.name_or_path or self.config.name_or_path or None
        was_training = self.training
        self.eval()
        loras = []
        try:
            for start in range(0, len(texts), batch_size):
                chunk = texts[start : start + batch_size]
                if task_embeddings is not None:
                    emb = task_embeddings[start : start + batch_size]
                else:
                    emb = self.embed_descriptions(chunk)  # [B, E]
                out = self(emb.to(self.device))
                for i, text in enumerate(chunk):
                    tensors = lora_state_dict(self.config, out.lora_A, out.lora_B, i)
                    # a view would keep the whole batch's output alive for as long as this one adapter lives
                    tensors = {k: v.clone() for k, v in tensors.items()}
                    loras.append(GeneratedLoRA(text, lora_config(self.config), tensors, source))
                del out
        finally:
            self.train(was_training)
        return loras[0] if isinstance(descriptions, str) else loras

    @classmethod
    def from_base_model(cls, base_model, **kwargs) -> T2LModel:
        """Build an untrained T2L for a causal LM (a model, its config, or a Hub id / folder).

        Args:
            base_model: a loaded model, its config, or a Hub id / folder.
            **kwargs: as for `peft_t2l.base_shapes.config_from_base_model` (target_modules, lora_rank, head, ...).

        Example:
            ```python
            >>> t2l = T2LModel.from_base_model("HuggingFaceTB/SmolLM2-135M-Instruct", head="L")
            ```
        """
        return cls(config_from_base_model(base_model, **kwargs))

    # ---- saving -----------------------------------------------------------------------------------------------

    def save_pretrained(self, save_directory: str | os.PathLike, *args, **kwargs):
        """As `PreTrainedModel.save_pretrained` (safetensors, config, remote code), plus a README model card.

        The folder is built in a temporary sibling and renamed into place, so it is never seen half-written, and a
        second writer of the same folder at the same time is refused. The remote code is the pure
        `modeling_t2l.py` / `configuration_t2l.py`, named in `config.json`'s `auto_map`, so the folder loads with
        `trust_remote_code=True` without this package.

        Example:
            ```python
            >>> t2l.save_pretrained("my-t2l")
            >>> AutoModel.from_pretrained("my-t2l", trust_remote_code=True)  # works without peft-t2l
            ```
        """
        if not kwargs.get("is_main_process", True):
            return None
        with write_folder(save_directory, what="T2L model folder", replaceable=is_t2l_folder) as tmp:
            # set before the config is written below; the config's own save adds its AutoConfig entry
            self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}), "AutoModel": REMOTE_MODEL_CLASS}
            result = super().save_pretrained(tmp, *args, **kwargs)
            _save_remote_code(tmp)
            t2l_model_card(self).save(str(tmp / "README.md"))
        return result

    def push_to_hub(self, repo_id: str, **kwargs):
        """As `PreTrainedModel.push_to_hub`, but the README is this model's own card (transformers would upload a
        generic one in its place); see `peft_t2l.hub.push_t2l_to_hub` for the arguments.

        Example:
            ```python
            >>> t2l.push_to_hub("my-org/t2l-smollm2")
            ```
        """
        return push_t2l_to_hub(self, repo_id, **kwargs)


def _save_remote_code(folder: str | os.PathLike) -> list[Path]:
    """Copy the pure `modeling_t2l.py` and the files it imports relatively into `folder`.

    What transformers' `custom_object_save` copies for a registered class, done for the pure base class: the file that
    defines `T2LModel` here imports the whole package, which a remote-code user does not have.
    """
    source = Path(modeling_t2l.__file__)
    written = []
    for file in [source, *map(Path, get_relative_import_files(source))]:
        written.append(Path(folder) / file.name)
        shutil.copyfile(file, written[-1])
    return written


# ---- function forms, kept for older code (the methods above are the API) -----------------------------------------


def embed_descriptions(model: T2LModel, descriptions: str | list[str]) -> torch.Tensor:
    """`model.embed_descriptions(descriptions)`; see `T2LModel.embed_descriptions`.

    Example:
        ```python
        >>> emb = embed_descriptions(t2l, "translate to French")
        ```
    """
    return _package_model(model, "embed_descriptions").embed_descriptions(descriptions)


def generate_lora(
    model: T2LModel,
    descriptions: str | list[str],
    *,
    task_embeddings: torch.Tensor | None = None,
    batch_size: int = GENERATE_CHUNK,
) -> GeneratedLoRA | list[GeneratedLoRA]:
    """`model.generate_lora(descriptions, ...)`; see `T2LModel.generate_lora` for the arguments.

    Example:
        ```python
        >>> loras = generate_lora(t2l, ["translate to French", "summarise news articles"])
        ```
    """
    model = _package_model(model, "generate_lora")
    return model.generate_lora(descriptions, task_embeddings=task_embeddings, batch_size=batch_size)


def _package_model(model: T2LPreTrainedModel, function: str) -> T2LModel:
    """`model`, if it is this package's class; the remote-code class has no text encoder to generate with."""
    if not isinstance(model, T2LModel):
        raise ValueError(
            f"{function} needs a peft_t2l.T2LModel, not a {type(model).__module__}.{type(model).__qualname__}; load "
            "the model with peft_t2l.T2LModel.from_pretrained(...) (or import peft_t2l before AutoModel.from_pretrained)."
        )
    return model


__all__ = ["GENERATE_CHUNK", "T2LModel", "T2LOutput", "embed_descriptions", "generate_lora"]
