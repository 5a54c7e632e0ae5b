"""The PEFT route: a T2LLoraConfig gives a PeftModel; switch its task in place; save a plain LoRA.

python examples/peft_route.py --out /tmp/t2l-adapter
"""

import argparse

import torch
from peft import PeftModel

from peft_t2l import T2LLoraConfig, get_peft_model, load_base_model, load_t2l_model, switch_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="T2L model folder or Hub id")
    parser.add_argument("--out", default="t2l-adapter", help="where to save the final adapter")
    args = parser.parse_args()

    t2l = load_t2l_model(args.model)
    base, tokenizer = load_base_model(t2l.config.base_model_name_or_path)
    config = T2LLoraConfig(
        t2l_model=t2l, task_description="Classify the sentiment of a review as positive or negative."
    )
    peft_model = get_peft_model(base, config)

    batch = tokenizer(["The film was a delight from start to finish."], return_tensors="pt")
    with torch.no_grad():
        sentiment_logits = peft_model(**batch).logits
        switch_task(peft_model, "Translate the sentence into French.")  # hot-swap: same modules, new weights
        french_logits = peft_model(**batch).logits
    print(f"switching task moved the logits by {(sentiment_logits - french_logits).abs().max():.4f}")

    peft_model.save_pretrained(args.out)  # a plain `peft_type: LORA` folder
    reloaded = PeftModel.from_pretrained(load_base_model(t2l.config.base_model_name_or_path)[0], args.out).eval()
    with torch.no_grad():
        same = torch.allclose(reloaded(**batch).logits, french_logits, atol=1e-5)
    print(f"saved to {args.out}; stock PEFT reloads it with identical logits: {same}")


if __name__ == "__main__":
    main()
