"""Peak memory of adapter generation: hypernet weights plus the forward's working memory, per case.

    python -m benchmarks.memory                       # SmolLM2 and Mistral-7B shapes, L/M/S heads, 1 and 64 descriptions
    python -m benchmarks.memory --shapes SmolLM2-135M --heads M --batch 1 64

Each case runs in a fresh subprocess, so the process's peak resident set (ru_maxrss) belongs to that case alone:
"forward peak" is the rise of the peak RSS during the first `torch.inference_mode` forward, over the RSS once the
model was built: the working memory of the forward, including its output. On a GPU it reports `torch.cuda.max_memory_allocated` instead.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import json, resource, sys, torch
from benchmarks.cases import Case
shapes, head, n, dtype = sys.argv[1], sys.argv[2], int(sys.argv[3]), getattr(torch, sys.argv[4])
device = "cuda" if torch.cuda.is_available() else "cpu"
torch.manual_seed(0)
from peft_t2l import T2LModel
model = T2LModel(Case(shapes, head).config()).to(device=device, dtype=dtype).eval()
weights = sum(p.numel() * p.element_size() for p in model.parameters())
emb = torch.randn(n, model.config.task_emb_size, device=device)
with torch.inference_mode():
    if device == "cuda":
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); before = torch.cuda.memory_allocated()
    else:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = model(emb)
    output = sum(t.numel() * t.element_size() for d in (out.lora_A, out.lora_B) for t in d.values())
    if device == "cuda":
        torch.cuda.synchronize(); peak = torch.cuda.max_memory_allocated() - before
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
print(json.dumps({"weights": weights, "output": output, "peak": max(peak, 0), "device": device}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=["SmolLM2-135M", "Mistral-7B"])
    parser.add_argument("--heads", default="LMS")
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 64])
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = parser.parse_args(argv)

    mib = 1 / 2**20
    print("| shapes | head | dtype | N | weights MiB | generated LoRAs MiB | forward peak MiB | device |")
    print("|---|---|---|---|---|---|---|---|")
    for shapes in args.shapes:
        for head in args.heads:
            for n in args.batch:
                cmd = [sys.executable, "-c", CHILD, shapes, head, str(n), args.dtype]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    print(f"| {shapes} | {head} | {args.dtype} | {n} | failed: {proc.stderr.strip()[-200:]} |")
                    continue
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                print(
                    f"| {shapes} | {head} | {args.dtype} | {n} | {r['weights'] * mib:.1f} | {r['output'] * mib:.1f} "
                    f"| {r['peak'] * mib:.1f} | {r['device']} |"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
