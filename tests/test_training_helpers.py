"""Builders shared by the training tests: a character tokenizer with a chat template, tiny tasks, run configs.

No tests here; the other test_training_* files import these.
"""

from __future__ import annotations

import json
import os
import string
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml
from conftest import make_tiny_llama, make_tiny_t2l
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from peft_t2l.data import Instance, Task

SPECIALS = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
VOCAB_SIZE = 128


def char_tokenizer() -> PreTrainedTokenizerFast:
    """One token per character (lower-case letters, digits, a little punctuation), specials kept whole."""
    chars = sorted(set(string.ascii_lowercase + string.digits + " \n.,:;!?+-=()'\"_[]"))
    vocab = {tok: i for i, tok in enumerate(SPECIALS + chars)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("[\\s\\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()  # characters join back without spaces
    tok.add_special_tokens(SPECIALS)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<|im_end|>",
        chat_template=CHAT_TEMPLATE,
    )


def tiny_base(seed: int = 0):
    """A 2-layer Llama and the character tokenizer."""
    return make_tiny_llama(seed, vocab_size=VOCAB_SIZE, max_position_embeddings=128), char_tokenizer()


def tiny_tasks() -> list[Task]:
    """Three tasks a tiny model can learn in a few dozen steps: the answer depends on the task, not the input."""
    inputs = [f"item {i}" for i in range(12)]
    specs = {
        "say_yes": (["answer yes", "always reply yes", "respond with yes"], "yes"),
        "say_no": (["answer no", "always reply no", "respond with no"], "no"),
        "say_maybe": (["answer maybe", "always reply maybe", "respond with maybe"], "maybe"),
    }
    return [
        Task(name=name, descriptions=tuple(descs), instances=tuple(Instance(x, (answer,)) for x in inputs))
        for name, (descs, answer) in specs.items()
    ]


def write_tasks(folder: Path, tasks: list[Task]) -> Path:
    """Write tasks in the project's JSON schema (what `load_tasks` reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    for t in tasks:
        data = {
            "task": t.name,
            "descriptions": list(t.descriptions),
            "instances": [{"input": i.input, "output": list(i.outputs)} for i in t.instances],
        }
        (folder / f"{t.name}.json").write_text(json.dumps(data))
    return folder


def run_fields(tmp: Path, *, with_data: bool = True, **overrides) -> dict:
    """Config values for a tiny, fast run (`with_data=False` leaves out the SFT/LoRA data fields, for recon)."""
    fields = {
        "output_dir": str(tmp / "run"),
        "max_steps": 30,
        "learning_rate": 3e-3,
        "warmup_steps": 2,
        "weight_decay": 0.0,
        "save_every": 1000,
        "log_every": 5,
        "progress": False,
        "cpu": True,
        "tasks_per_batch": 3,
    }
    if with_data:
        fields.update(label_smoothing=0.0, examples_per_task=2, max_prompt_length=32, max_response_length=8)
    return {**fields, **overrides}


RUNNER = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    from safetensors.torch import save_file
    from peft_t2l.training.config import SFTConfig, load_config
    from peft_t2l.training.sft import train_sft

    torch.set_num_threads(1)
    config = load_config(SFTConfig, sys.argv[1], sys.argv[2:])
    kill_at = int(os.environ.get("KILL_AT_STEP", "0"))

    def on_step_end(step):
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no final save: as if the machine went away

    result = train_sft(config, on_step_end=on_step_end)
    rank = int(os.environ.get("RANK", "0"))
    weights = {k: v.contiguous() for k, v in result.model.state_dict().items()}
    save_file(weights, os.path.join(config.output_dir, f"final-rank{rank}.safetensors"))
    """
)


def write_run_files(root: Path) -> Path:
    """A tiny base model, tokenizer, task folder, untrained one-hot T2L, a config file and a runner script in `root`.

    The runner trains by SFT from the config (plus key=value arguments), kills itself with SIGKILL after step
    `$KILL_AT_STEP`, and saves each rank's final weights as `final-rank<r>.safetensors`.
    """
    base, tokenizer = tiny_base()
    base.save_pretrained(root / "base")
    tokenizer.save_pretrained(root / "base")
    tasks = tiny_tasks()
    write_tasks(root / "tasks", tasks)
    names = [t.name for t in tasks]
    t2l = make_tiny_t2l(base, encoder_type="one_hot", task_names=names, task_emb_size=len(names), dropout=0.1)
    t2l.save_pretrained(root / "t2l_init")
    config = {
        "base_model": str(root / "base"),
        "data": str(root / "tasks"),
        "init_from": str(root / "t2l_init"),
        "max_steps": 8,
        "warmup_steps": 2,
        "learning_rate": 1e-3,
        "save_every": 3,
        "log_every": 1,
        "tasks_per_batch": 2,
        "examples_per_task": 2,
        "max_prompt_length": 32,
        "max_response_length": 8,
        "neftune_noise_alpha": 5.0,  # uses the RNG too, so resume must restore it
        "progress": False,
        "cpu": True,
    }
    (root / "sft.yaml").write_text(yaml.safe_dump(config))
    (root / "runner.py").write_text(RUNNER)
    return root


def run_runner(root: Path, *overrides: str, kill_at: int = 0, launcher: list[str] | None = None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "KILL_AT_STEP": str(kill_at), "OMP_NUM_THREADS": "1"}
    cmd = (launcher or [sys.executable]) + [str(root / "runner.py"), str(root / "sft.yaml"), *overrides]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
