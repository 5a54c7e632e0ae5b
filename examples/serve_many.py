"""Serve many task descriptions at once: N prompts, each under the LoRA of its own description, one `generate` call.

    python examples/serve_many.py            # SmolLM2-135M-Instruct + an untrained T2L (offline copies)
    python examples/serve_many.py --tiny     # a tiny random Llama with SmolLM2's tokenizer: seconds, for CI
    python examples/serve_many.py --t2l path/to/t2l   # a trained (or converted) T2L model

The untrained T2L writes LoRAs that are near zero, so the answers are the base model's; the point is the mechanics:
distinct descriptions are generated in one batched hypernetwork forward, repeats come from the adapter cache, and
every row of the batch runs under its own adapter.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM  # noqa: E402

from peft_t2l import T2LModel  # noqa: E402
from peft_t2l.defaults import DEFAULT_BASE_MODEL, load_base_model, resolve  # noqa: E402
from peft_t2l.serving import T2LServer  # noqa: E402

REQUESTS = [
    ("What is 17 + 25?", "Solve grade-school arithmetic word problems step by step."),
    ("Translate 'good morning' into French.", "Translate short English phrases into French."),
    ("Is this review positive or negative: 'a waste of two hours'", "Classify the sentiment of movie reviews."),
    ("What is 9 * 8?", "Solve grade-school arithmetic word problems step by step."),
    ("Name the capital of Japan.", None),  # the base model, in the same batch
]


def build(tiny: bool, t2l_path: str | None):
    tokenizer = AutoTokenizer.from_pretrained(resolve(DEFAULT_BASE_MODEL))
    if tiny:
        torch.manual_seed(0)
        config = LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
        )  # fmt: skip
        base = LlamaForCausalLM(config).eval()
    else:
        base, _ = load_base_model(DEFAULT_BASE_MODEL)
    t2l = T2LModel.from_pretrained(t2l_path) if t2l_path else T2LModel.from_base_model(base, head="M")
    return base, t2l.eval(), tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny random base model (fast, meaningless answers)")
    parser.add_argument("--t2l", default=None, help="a saved T2L model folder or Hub id")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    args = parser.parse_args()

    base, t2l, tokenizer = build(args.tiny, args.t2l)
    server = T2LServer(base, t2l, tokenizer, max_attached=16)
    prompts, descriptions = [p for p, _ in REQUESTS], [d for _, d in REQUESTS]

    for attempt in ("first call", "same descriptions again"):
        start = time.perf_counter()
        out = server.generate(prompts, descriptions, max_new_tokens=args.max_new_tokens, do_sample=False)
        seconds = time.perf_counter() - start
        print(f"\n== {attempt}: {len(prompts)} prompts, {out.generated} adapters generated, {seconds:.2f} s in total")
        for prompt, description, name, text in zip(prompts, descriptions, out.adapter_names, out.texts):
            print(f"[{name}] {description or '(base model)'}\n  > {prompt}\n  < {text.strip()[:120]!r}")
    stats = server.cache.stats
    print(f"\nadapter cache: {len(server.cache)} adapters, {server.cache.nbytes / 2**20:.1f} MiB, "
          f"{stats.hits} hits, {stats.misses} misses")  # fmt: skip


if __name__ == "__main__":
    main()
