"""Probe: guidance-style adapters, dW = dW0 + s (dW_desc - dW0), with dW0 the zero embedding's adapter.

    .venv/bin/python docs/results/runs/session5/guidance_probe.py [T2L folder]   # output: guidance_probe.out

Like classifier-free guidance, s > 1 would push the adapter further along what the description adds. The guided
adapter is a plain rank-2r LoRA: A' = [A_desc; A0], B' = [s B_desc, (1 - s) B0], alpha doubled to keep the scaling.
First 16 instances of 4 unseen validation tasks, the task's first description and the first unrelated one. Stopped
after 2 tasks: s = 2 halved the own description's score on task035 and zeroed it on MNLI, so it was not pursued.
"""

from __future__ import annotations

import os
import sys

import torch
from peft import LoraConfig

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from peft_t2l import load_base_model, load_t2l_model  # noqa: E402
from peft_t2l.data import load_tasks  # noqa: E402
from peft_t2l.evaluation.metrics import rouge_l  # noqa: E402
from peft_t2l.evaluation.systems import UNRELATED_DESCRIPTIONS  # noqa: E402
from peft_t2l.generated_lora import GeneratedLoRA  # noqa: E402
from peft_t2l.generation import generate_chat  # noqa: E402
from peft_t2l.hosting import AdapterHost  # noqa: E402

TASKS = [
    "task035_winogrande_question_modification_person",
    "task202_mnli_contradiction_classification",
    "task362_spolin_yesand_prompt_response_sub_classification",
    "task039_qasc_find_overlapping_words",
]


def guided(lora: GeneratedLoRA, zero: GeneratedLoRA, s: float) -> GeneratedLoRA:
    if s == 1.0:
        return lora
    sd = {}
    for key, value in lora.state_dict.items():
        z = zero.state_dict[key]
        sd[key] = torch.cat([value, z], 0) if "lora_A" in key else torch.cat([s * value, (1 - s) * z], 1)
    c = lora.lora_config
    config = LoraConfig(
        r=2 * c.r,
        lora_alpha=2 * c.lora_alpha,
        target_modules=list(c.target_modules),
        task_type="CAUSAL_LM",
        base_model_name_or_path=c.base_model_name_or_path,
    )
    return GeneratedLoRA(description=lora.description, lora_config=config, state_dict=sd)


def main() -> None:
    torch.set_num_threads(1)
    t2l = load_t2l_model(sys.argv[1] if len(sys.argv) > 1 else "default")
    base, tokenizer = load_base_model(t2l.config.base_model_name_or_path)
    host = AdapterHost(base)
    zero = t2l.generate_lora("zero", task_embeddings=torch.zeros(1, t2l.config.task_emb_size))
    for task in load_tasks("../shared/data/sni/validation", names=TASKS, max_instances=16):
        refs = [i.outputs for i in task.instances]
        prompts = [i.input for i in task.instances]
        longest = max(len(tokenizer(r)["input_ids"]) for rr in refs for r in rr)
        for label, description in (("own", task.descriptions[0]), ("unrelated", UNRELATED_DESCRIPTIONS[0])):
            lora = t2l.generate_lora(description)
            for s in (1.0, 2.0):
                name = host.attach(f"{label}{int(s * 10)}", guided(lora, zero, s))
                answers = generate_chat(
                    host.model,
                    tokenizer,
                    prompts,
                    adapter_names=[name] * len(prompts),
                    batch_size=8,
                    max_new_tokens=min(64, longest + 8),
                    do_sample=False,
                )
                score = 100 * sum(rouge_l(a, r) for a, r in zip(answers, refs)) / len(refs)
                print(task.name[:8], label, s, round(score, 1), repr(answers[0][:80]), flush=True)


if __name__ == "__main__":
    main()
