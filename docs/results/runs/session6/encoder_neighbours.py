"""Does a task's description land next to tasks that answer like it? MiniLM vs the base LLM's last-token state.

    HF_HUB_OFFLINE=1 .venv/bin/python docs/results/runs/session6/encoder_neighbours.py \
        > docs/results/runs/session6/encoder_neighbours.out

A diagnostic for choosing the next encoder (no training, no generation). An unseen description's adapter answers in
the format of the training tasks its description embeds near (`neighbours.out`), so an encoder is better for T2L when
a task's nearest other tasks answer like it. For every training task (leave-one-out over the 452) and each encoder:
the centroid of its first 8 descriptions, its 3 nearest other tasks by cosine, and (1) how far their answer lengths
are from the task's own (mean |log2((words_neighbour + 1) / (words_own + 1))|, median reference words per task;
0 is the same length, 1 is a factor of 2), (2) the share of neighbours sharing an SNI category with it.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import torch

from peft_t2l import load_base_model, load_t2l_model
from peft_t2l.data.tasks import load_tasks
from peft_t2l.encoders import LLMLastTokenEncoder
from peft_t2l.training.negatives import NearestTaskNegatives

TRAIN = Path("../shared/data/sni/train")


def main() -> None:
    torch.set_num_threads(1)
    tasks = load_tasks(TRAIN)
    words = [statistics.median(len(i.outputs[0].split()) for i in t.instances) for t in tasks]
    categories = [set(json.loads((TRAIN / f"{t.name}.json").read_text()).get("categories") or []) for t in tasks]
    t2l = load_t2l_model("default").eval()
    base, tokenizer = load_base_model(t2l.config.base_model_name_or_path)
    encoders = {
        "all-MiniLM-L6-v2 (the default's)": t2l.embed_descriptions,
        "SmolLM2 last-token state": LLMLastTokenEncoder(base.eval(), tokenizer).encode,
    }
    print("| encoder | answer-length distance to 3 nearest tasks | share sharing an SNI category |")
    print("|---|---:|---:|")
    for name, encode in encoders.items():
        # the same neighbours training's nearest-task negatives use: cosine of centroids over 8 descriptions
        nearest = NearestTaskNegatives(tasks, encode, k=3, descriptions_per_task=8).nearest
        distance = statistics.mean(
            abs(math.log2((words[j] + 1) / (words[i] + 1))) for i, row in enumerate(nearest) for j in row
        )
        shared = statistics.mean(bool(categories[i] & categories[j]) for i, row in enumerate(nearest) for j in row)
        print(f"| {name} | {distance:.3f} | {shared:.3f} |", flush=True)
    # what any encoder is measured against: neighbours drawn at random
    g = torch.Generator().manual_seed(0)
    pairs = [(i, j) for i in range(len(tasks)) for j in torch.randperm(len(tasks), generator=g)[:4].tolist() if j != i]
    distance = statistics.mean(abs(math.log2((words[j] + 1) / (words[i] + 1))) for i, j in pairs)
    shared = statistics.mean(bool(categories[i] & categories[j]) for i, j in pairs)
    print(f"| random tasks (reference) | {distance:.3f} | {shared:.3f} |")


if __name__ == "__main__":
    main()
