"""Step time and peak memory of hypernetwork SFT vs plain LoRA SFT on the same batches.

Both variants train rank-8 LoRA on q_proj and v_proj of SmolLM2-135M-Instruct with AdamW on identical batches
(8 x 128 tokens by default). "hypernet" runs the T2L path of `t2l train sft` (T2L forward, per-row LoRA hooks on the
frozen base, backward into the hypernetwork); "lora" is a PEFT LoRA. Each variant runs in its own process so its peak
memory is its own. Task embeddings are fixed random vectors: the text encoder's cost is cached away in training.

    python benchmarks/bench_sft_step.py                # both variants, table at the end
    python benchmarks/bench_sft_step.py --steps 5 --batch 8 --seq 128
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

VARIANTS = ("lora", "hypernet")


def run_variant(variant: str, *, steps: int, warmup: int, batch: int, seq: int, device: str) -> dict:
    """Time `warmup + steps` optimizer steps of one variant; returns its figures."""
    import torch
    from peft import LoraConfig, get_peft_model

    from peft_t2l import T2LModel
    from peft_t2l.defaults import load_base_model
    from peft_t2l.training.losses import response_loss
    from peft_t2l.training.row_lora import RowLoRA

    torch.manual_seed(0)
    base, _ = load_base_model(device=device)
    base.requires_grad_(False)
    baseline_rss = _peak_rss_mb()
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, base.config.vocab_size, (batch, seq), generator=gen).to(device)  # [B, T]
    labels = ids.clone()
    labels[:, : seq // 2] = -100  # loss on the second half, like a prompt + response
    if variant == "lora":
        model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
        params = [p for p in model.parameters() if p.requires_grad]

        def step_loss() -> torch.Tensor:
            return response_loss(model(input_ids=ids).logits, labels)
    else:
        t2l = T2LModel.from_base_model(base, target_modules=["q_proj", "v_proj"], lora_rank=8, head="M").to(device)
        row_lora = RowLoRA(base, t2l.config)
        task_embeddings = torch.randn(batch, t2l.config.task_emb_size, generator=gen).to(device)  # [B, E]
        params = list(t2l.parameters())
        t2l.train()

        def step_loss() -> torch.Tensor:
            out = t2l(task_embeddings)
            with row_lora.apply(out.lora_A, out.lora_B):
                return response_loss(base(input_ids=ids).logits, labels)

    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-2)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        step_loss().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    result = {
        "variant": variant,
        "step_s": statistics.median(times),
        "step_s_all": [round(t, 3) for t in times],
        "trainable_params": sum(p.numel() for p in params),
        "peak_rss_mb": _peak_rss_mb(),
        "rss_after_load_mb": baseline_rss,
        "threads": torch.get_num_threads(),
    }
    if device.startswith("cuda"):
        result["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def print_table(results: list[dict]) -> None:
    lora = next(r for r in results if r["variant"] == "lora")
    print(f"\n{'variant':<10} {'step (s)':>9} {'vs LoRA':>8} {'trainable':>12} {'peak RSS MB':>12} {'after load':>11}")
    for r in results:
        extra = (r["step_s"] / lora["step_s"] - 1) * 100
        print(
            f"{r['variant']:<10} {r['step_s']:>9.2f} {extra:>+7.1f}% {r['trainable_params']:>12,} "
            f"{r['peak_rss_mb']:>12.0f} {r['rss_after_load_mb']:>11.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=(*VARIANTS, "all"), default="all")
    parser.add_argument("--steps", type=int, default=3, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed first steps")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    shape = dict(steps=args.steps, warmup=args.warmup, batch=args.batch, seq=args.seq, device=args.device)
    if args.variant != "all":
        print(json.dumps(run_variant(args.variant, **shape)))
        return
    results = []
    for variant in VARIANTS:  # a fresh process each, so peak memory is not shared
        cmd = [sys.executable, __file__, "--variant", variant]
        cmd += [f"--{k}={v}" for k, v in shape.items()]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(results[-1]))
    print_table(results)


if __name__ == "__main__":
    main()
