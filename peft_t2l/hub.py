"""Model cards for T2L models and the adapters they write."""

from __future__ import annotations

import html
import os
import re
from typing import TYPE_CHECKING

from huggingface_hub import ModelCard, ModelCardData

if TYPE_CHECKING:
    from .generated_lora import GeneratedLoRA
    from .model import T2LModel

T2L_TAGS = ["text-to-lora", "t2l", "hypernetwork", "lora", "peft"]
PAPER = "Charakorn et al., Text-to-LoRA: Instant Transformer Adaption, ICML 2025"


def t2l_model_card(model: T2LModel, *, repo_id: str | None = None) -> ModelCard:
    """The README of a saved T2L model: metadata, architecture, training record and a usage snippet."""
    c = model.config
    n_params = sum(p.numel() for p in model.parameters())
    summary = dict(c.training_summary or {})
    datasets = summary.get("datasets")
    data = ModelCardData(
        library_name="peft-t2l",
        base_model=c.base_model_name_or_path or None,
        tags=list(T2L_TAGS),
        license=summary.get("license", "apache-2.0"),
        datasets=datasets,
    )
    name = repo_id or public_name(model.name_or_path) or "path/to/this/folder"
    training = _training_section(summary)
    evaluation = summary.get("eval_table", "Not evaluated yet.")
    # the card leads with whether the description does the work, when the model was evaluated that way
    headline = f"{summary['headline'].strip()}\n\n" if summary.get("headline") else ""
    content = f"""---
{data.to_yaml()}
---

# Text-to-LoRA hypernetwork for `{c.base_model_name_or_path}`

A [Text-to-LoRA]({"https://arxiv.org/abs/2506.06105"}) hypernetwork ({PAPER}): it writes a LoRA adapter for
`{c.base_model_name_or_path}` from a natural-language task description, in one forward pass.

| | |
|---|---|
| head | {c.head} |
| target modules | {", ".join(c.target_modules)} |
| LoRA rank / alpha | {c.lora_rank} / {c.lora_alpha} |
| layers | {c.num_layers} |
| task encoder | {c.encoder_type}: `{c.encoder_name_or_path}` ({c.task_emb_size}-d) |
| hypernetwork parameters | {n_params:,} |

{headline}## Usage

```python
import peft_t2l  # registers the T2L auto classes
from transformers import AutoModel

t2l = AutoModel.from_pretrained("{name}")
lora = t2l.generate_lora("classify the sentiment of a movie review as positive or negative")
lora.save_pretrained("sentiment-lora")  # a plain PEFT LoRA folder
```

Without the package, `AutoModel.from_pretrained("{name}", trust_remote_code=True)` maps task embeddings to LoRA
factors (`model(task_embeddings)`); turning text into an adapter needs `pip install peft-t2l`.

## Training

{training}

## Evaluation

{evaluation}
"""
    return ModelCard(content)


def summary_items(summary: dict | None) -> list[tuple[str, str]]:
    """A T2L config's `training_summary` as short (key, text) pairs: what the model card's training bullets and
    `t2l info` show. The evaluation record and the full training configs are left out (the card folds them away).

    Example:
        ```python
        >>> summary_items({"regime": "sft", "steps": 600, "training_config": {"seed": 45}})
        [('regime', 'sft'), ('steps', '600')]
        ```
    """
    items = []
    for key, value in (summary or {}).items():
        if key in ("eval_table", "headline", "unseen_tasks", "training_config"):
            continue
        if key == "averaged" and _is_average_record(value):  # peft_t2l.training.average: its sources, one per part
            value = ", ".join(
                f"{s['weight']:g} x `{s['model']}` ({s.get('regime')}, {s.get('steps')} steps)" for s in value
            )
        elif isinstance(value, (list, tuple)) and len(value) > 6:
            value = f"{len(value)}: {', '.join(map(str, value[:6]))}, ..."
        items.append((key, str(value)))
    return items


def _training_section(summary: dict) -> str:
    """Short bullets for scalars and lists, the full training config(s) folded away as YAML."""
    import yaml

    if not summary:
        return "- untrained (random initialisation)"
    lines = [f"- **{key}**: {value}" for key, value in summary_items(summary)]
    configs = [("training config", summary.get("training_config"))]
    if _is_average_record(summary.get("averaged")):
        configs += [(f"training config of `{s['model']}`", s.get("training_config")) for s in summary["averaged"]]
    for title, config in configs:
        if config:
            config = yaml.safe_dump(config, sort_keys=False)
            lines.append(f"\n<details><summary>{title}</summary>\n\n```yaml\n{config}```\n</details>")
    return "\n".join(lines)


def _is_average_record(value) -> bool:
    return isinstance(value, list) and all(
        isinstance(s, dict) and isinstance(s.get("weight"), (int, float)) and "model" in s for s in value
    )


def adapter_model_card(lora: GeneratedLoRA) -> ModelCard:
    """The README of a generated adapter: which description, which T2L model, which base model."""
    cfg = lora.lora_config
    base = cfg.base_model_name_or_path
    data = ModelCardData(library_name="peft", base_model=base or None, tags=[*T2L_TAGS, "generated-adapter"])
    content = f"""---
{data.to_yaml()}
---

# LoRA generated by Text-to-LoRA

This adapter was written by a Text-to-LoRA hypernetwork (`{public_name(lora.t2l_model) or "a local T2L model"}`) for
the base model `{base}`, in one forward pass, from this task description:

{quote(lora.description)}

Rank {cfg.r}, alpha {cfg.lora_alpha}, target modules {", ".join(sorted(cfg.target_modules))}.
It is a plain PEFT LoRA: no peft-t2l needed to use it.

```python
from peft import PeftModel
from transformers import AutoModelForCausalLM

base = AutoModelForCausalLM.from_pretrained("{base}")
model = PeftModel.from_pretrained(base, "path/to/this/folder")
```
"""
    return ModelCard(content)


def quote(text: str) -> str:
    """`text` as a Markdown quote block that it cannot leave: every line quoted, HTML and backticks neutralised.

    Example:
        ```python
        >>> print(quote("two lines:" + chr(10) + "# not a heading"))
        > two lines:
        > \\# not a heading
        ```
    """
    lines = html.escape(text, quote=False).replace("`", "\\`").splitlines() or [""]
    # a leading Markdown marker (#, -, ---, >, 1.) would start a heading, rule or list inside the quote
    return "\n".join("> " + _escape_marker(line) for line in lines)


def _escape_marker(line: str) -> str:
    line = re.sub(r"^(\s*)(\d+)([.)])", r"\1\2\\\3", line)
    return re.sub(r"^(\s*)([#>*+=|-])", r"\1\\\2", line)


def public_name(name_or_path: str | None) -> str | None:
    """A model name fit for a public card: a Hub id as is, a local folder reduced to its own name (never a path).

    Example:
        ```python
        >>> public_name("/home/me/runs/sft/model"), public_name("me/t2l")
        ('model', 'me/t2l')
        ```
    """
    if not name_or_path:
        return None
    name = str(name_or_path)
    if (
        os.path.isabs(name)
        or name.startswith((".", "~"))
        or name.count("/") > 1
        or "\\" in name
        or os.path.exists(name)
    ):
        return os.path.basename(os.path.normpath(name)) or None
    return name


def push_t2l_to_hub(
    model: T2LModel,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    **save_kwargs,
):
    """Create (or reuse) `repo_id` and upload the model folder: safetensors, config, remote code and model card.

    Args:
        model: the T2L model.
        repo_id: `"org/name"` on the Hub.
        token: a Hub token (default: the logged-in one).
        private: create the repository as private.
        commit_message: message of the upload commit.
        revision: branch to push to.
        create_pr: open a pull request instead of committing.
        **save_kwargs: passed to `save_pretrained` (e.g. `max_shard_size`).

    Example:
        ```python
        >>> t2l.push_to_hub("my-org/t2l-smollm2")
        ```
    """
    import tempfile

    from huggingface_hub import HfApi

    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, **save_kwargs)
        t2l_model_card(model, repo_id=repo_id).save(f"{tmp}/README.md")
        return api.upload_folder(
            repo_id=repo_id,
            folder_path=tmp,
            commit_message=commit_message or "Upload Text-to-LoRA hypernetwork",
            revision=revision,
            create_pr=create_pr,
        )
