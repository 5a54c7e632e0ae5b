"""Several descriptions at once: one batched forward writes every adapter, one generate call answers every prompt.

python examples/many_descriptions.py
"""

import argparse

import torch

from peft_t2l import load_base_model, load_t2l_model

TASKS = [
    ("Given a country, answer with the name of its capital city.", "Italy"),
    ("Answer the arithmetic question with a single number.", "What is 12 plus 30?"),
    ("Write the antonym of the given word.", "cold"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="T2L model folder or Hub id")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    args = parser.parse_args()

    t2l = load_t2l_model(args.model)
    base, tokenizer = load_base_model(t2l.config.base_model_name_or_path)
    loras = t2l.generate_lora([description for description, _ in TASKS])  # one forward for all of them

    names = [f"task{i}" for i in range(len(loras))]
    model = loras[0].to_peft_model(base, adapter_name=names[0])
    for name, lora in zip(names[1:], loras[1:]):
        lora.load_into(model, adapter_name=name)

    tokenizer.padding_side = "left"  # decoder-only batching
    prompts = [
        tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
        for _, p in TASKS
    ]
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():  # each row uses its own adapter
        ids = model.generate(**batch, adapter_names=names, max_new_tokens=args.max_new_tokens, do_sample=False)
    for (description, prompt), row in zip(TASKS, ids):
        answer = tokenizer.decode(row[batch["input_ids"].shape[1] :], skip_special_tokens=True).strip()
        print(f"[{description}] {prompt} -> {answer}")


if __name__ == "__main__":
    main()
