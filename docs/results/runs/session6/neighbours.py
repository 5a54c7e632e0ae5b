"""Which training tasks does each unseen task's description land near? (a diagnostic, no generation)

    HF_HUB_OFFLINE=1 .venv/bin/python docs/results/runs/session6/neighbours.py > docs/results/runs/session6/neighbours.out

For each validation task: the three descriptions the evaluation used (read from the shipped default's report), their
mean task embedding (the default's encoder, all-MiniLM-L6-v2), and the 3 training tasks whose mean embedding (first
20 descriptions) is closest in cosine, with those tasks' median reference length in words, since the generated
adapter tends to answer in the neighbours' format. The same for the evaluation's unrelated description.
"""

from __future__ import annotations

import json
import statistics

import torch

from peft_t2l import load_t2l_model
from peft_t2l.data.tasks import load_tasks
from peft_t2l.evaluation import UNRELATED_DESCRIPTIONS

REPORT = "docs/results/s5/validation-margin2/results.json"


def median_words(task) -> float:
    return statistics.median(len(i.outputs[0].split()) for i in task.instances)


def main() -> None:
    torch.set_num_threads(1)
    t2l = load_t2l_model("default").eval()
    train = load_tasks("../shared/data/sni/train")
    validation = {t.name: t for t in load_tasks("../shared/data/sni/validation")}
    with torch.no_grad():
        train_emb = torch.stack([t2l.embed_descriptions(list(t.descriptions[:20])).mean(0) for t in train])  # [T, E]
    train_emb = torch.nn.functional.normalize(train_emb, dim=-1)
    used = json.loads(open(REPORT).read())["results"]["t2l:margin2@train"]
    queries = {name: used[name]["descriptions"] for name in used}
    queries["(unrelated) " + UNRELATED_DESCRIPTIONS[0]] = [UNRELATED_DESCRIPTIONS[0]]
    for name, descriptions in queries.items():
        with torch.no_grad():
            q = torch.nn.functional.normalize(t2l.embed_descriptions(descriptions).mean(0), dim=-1)  # [E]
        sims = train_emb @ q  # [T]
        top = sims.topk(3)
        own = f" (reference median {median_words(validation[name]):.0f} words)" if name in validation else ""
        print(f"{name}{own}")
        for score, index in zip(top.values.tolist(), top.indices.tolist()):
            print(f"    {score:.2f}  {train[index].name}  ({median_words(train[index]):.0f} words)")


if __name__ == "__main__":
    main()
