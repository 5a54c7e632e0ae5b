"""Put a trained T2L model (and the multi-task LoRA baseline it is compared with) into the package as the default.

    python scripts/ship_default.py --model runs/s3/sft_plain/model --multitask-lora runs/s3/mt_lora/adapter \
        --eval docs/results.md --validation docs/results/s3/validation --system t2l:plain@train \
        --tasks ../shared/data/sni/validation

The model is stored in bfloat16 safetensors (half the size; generation casts nothing else), with the evaluation table
in its model card. `load_t2l_model("default")` and `t2l ... --model default` then use it, offline.
With `--validation`, the per-task scores of `--system` and of the base model on those unseen tasks (and the tasks'
SNI categories) are recorded in `training_summary["unseen_tasks"]`, so `t2l demo` can say what the default is good at.
The model code files `save_pretrained` writes for remote-code users are not kept: the default is loaded through the
package's own class, and a model pushed or saved from it gets them written afresh.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import torch

from peft_t2l import T2LModel
from peft_t2l.defaults import EMBEDDED_T2L

REMOTE_CODE_FILES = ("modeling_t2l.py", "configuration_t2l.py")


def headline_section(page: str) -> str | None:
    """The `## Headline...` section of the results page (the conditioning gaps), which leads the model card."""
    start = page.find("\n## Headline")
    if start < 0:
        return None
    end = page.find("\n## ", start + 1)
    return page[start + 1 : end if end > 0 else None].strip()


def unseen_task_scores(results_dir: Path, system: str, tasks_dir: str | None) -> dict[str, dict]:
    """Per task: the system's and the base model's ROUGE-L, and the task's SNI categories."""
    data = json.loads((results_dir / "results.json").read_text())
    for name in (system, "base"):
        if name not in data["results"]:
            raise SystemExit(f"{results_dir}/results.json has no system {name!r}; systems: {list(data['results'])}")

    def categories(task: str) -> list[str]:
        path = Path(tasks_dir or "", f"{task}.json")
        return list(json.loads(path.read_text()).get("categories") or []) if tasks_dir and path.is_file() else []

    return {
        task: {
            "t2l": result["rouge_l"],
            "base": data["results"]["base"][task]["rouge_l"],
            "categories": categories(task),
        }
        for task, result in data["results"][system].items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="trained T2L folder (<output_dir>/model)")
    parser.add_argument("--multitask-lora", required=True, help="the multi-task LoRA baseline (a PEFT folder)")
    parser.add_argument("--eval", default=None, help="results.md of `t2l eval`, copied into the model card")
    parser.add_argument("--validation", default=None, help="a t2l eval folder on unseen tasks with base and --system")
    parser.add_argument("--system", default=None, help="the T2L column of --validation (e.g. t2l:margin@train)")
    parser.add_argument("--tasks", default=None, help="the evaluated task folder, for the tasks' SNI categories")
    parser.add_argument("--out", default=str(EMBEDDED_T2L), help="where the default lives")
    args = parser.parse_args()

    model = T2LModel.from_pretrained(args.model).to(torch.bfloat16)
    summary = dict(model.config.training_summary or {})
    if args.eval:
        summary["eval_table"] = Path(args.eval).read_text()
        summary["headline"] = headline_section(summary["eval_table"])
    if args.validation:
        if not args.system:
            raise SystemExit("--validation needs --system, the T2L column to record (e.g. t2l:margin@train)")
        summary["unseen_tasks"] = unseen_task_scores(Path(args.validation), args.system, args.tasks)
    model.config.training_summary = summary
    model.name_or_path = model.config.name_or_path = "peft_t2l/default_model"

    out = Path(args.out)
    # build the new folder next to the old one and swap, so a failed export never leaves a half default behind
    tmp = Path(tempfile.mkdtemp(prefix=".default-", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        for name in REMOTE_CODE_FILES:  # loaded through the package's class: the code lives in the package only
            (tmp / name).unlink(missing_ok=True)
        shutil.copytree(args.multitask_lora, tmp / "multitask_lora")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"default T2L model written to {out} ({size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
