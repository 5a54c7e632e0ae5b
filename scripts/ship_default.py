"""Put a trained T2L model (and the multi-task LoRA baseline it is compared with) into the package as the default.

    python scripts/ship_default.py --model runs/sft_offset/model --multitask-lora runs/mt_lora/adapter \
        --eval docs/results.md

The model is stored in bfloat16 safetensors (half the size; generation casts nothing else), with the evaluation table
in its model card. `load_t2l_model("default")` and `t2l ... --model default` then use it, offline.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import torch

from peft_t2l import T2LModel
from peft_t2l.defaults import EMBEDDED_T2L


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="trained T2L folder (<output_dir>/model)")
    parser.add_argument("--multitask-lora", required=True, help="the multi-task LoRA baseline (a PEFT folder)")
    parser.add_argument("--eval", default=None, help="results.md of `t2l eval`, copied into the model card")
    parser.add_argument("--out", default=str(EMBEDDED_T2L), help="where the default lives")
    args = parser.parse_args()

    model = T2LModel.from_pretrained(args.model).to(torch.bfloat16)
    summary = dict(model.config.training_summary or {})
    if args.eval:
        summary["eval_table"] = Path(args.eval).read_text()
    model.config.training_summary = summary
    model.name_or_path = model.config.name_or_path = "peft_t2l/default_model"

    out = Path(args.out)
    # build the new folder next to the old one and swap, so a failed export never leaves a half default behind
    tmp = Path(tempfile.mkdtemp(prefix=".default-", dir=out.parent))
    try:
        model.save_pretrained(tmp)
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
