"""Several descriptions at once: one batched forward writes every adapter, one generate call answers every prompt.

python examples/many_descriptions.py
"""

import argparse

import torch

from peft_t2l import load_base_model, load_t2l_model
from peft_t2l.generation import generate_chat

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

    model.eval()  # per-row adapters need eval mode
    with torch.no_grad():  # one generate call, each row under its own adapter (left padding done by generate_chat)
        answers = generate_chat(
            model,
            tokenizer,
            [p for _, p in TASKS],
            adapter_names=names,
            max_new_tokens=args.max_new_tokens,
            do_sample=False,
        )
    for (description, prompt), answer in zip(TASKS, answers):
        print(f"[{description}] {prompt} -> {answer.strip()}")


if __name__ == "__main__":
    main()
