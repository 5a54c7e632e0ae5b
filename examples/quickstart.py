"""Quickstart: a description in, a LoRA out, and the adapted model's answer next to the base model's.

python examples/quickstart.py
python examples/quickstart.py --description "answer with the capital city of the given country" --prompt "Japan"
"""

import argparse

import torch

from peft_t2l import load_base_model, load_t2l_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="T2L model folder or Hub id")
    parser.add_argument("--description", default="Given a country, answer with the name of its capital city.")
    parser.add_argument("--prompt", default="France")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    args = parser.parse_args()

    t2l = load_t2l_model(args.model)  # the hypernetwork (a few MB)
    base, tokenizer = load_base_model(t2l.config.base_model_name_or_path)  # offline SmolLM2 by default

    lora = t2l.generate_lora(args.description)  # one forward pass -> a plain PEFT LoRA
    model = lora.to_peft_model(base)

    chat = [{"role": "user", "content": args.prompt}]
    inputs = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)

    def answer() -> str:
        with torch.no_grad():
            ids = model.generate(**inputs, max_new_tokens=args.max_new_tokens, do_sample=False)
        return tokenizer.decode(ids[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip()

    adapted = answer()
    with model.disable_adapter():
        plain = answer()
    print(f"{lora}\nbase model  : {plain}\nwith adapter: {adapted}")


if __name__ == "__main__":
    main()
