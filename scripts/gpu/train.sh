#!/usr/bin/env bash
# On the GPU machine, from the repository root, once every .gpu/part-NN has been carried there (README.md here):
# unpack, convert SmolLM2 once, continue the default by SFT for a fixed time, and leave a bf16 model in $OUT.
#   bash scripts/gpu/train.sh [key=value ...]   # overrides of the run below (e.g. max_minutes=6 tasks_per_batch=64)
# A second call continues the same run (resume=true) while the machine is still warm.
set -euo pipefail
: "${OUT:?set OUT to the folder whose files come back}"
W=/tmp/t2l
mkdir -p "$W"
if ! (cd .gpu && sha256sum --quiet -c SHA256SUMS); then
  echo "missing or damaged parts in .gpu/: carry each .gpu/part-NN (and .gpu/SHA256SUMS) first"; exit 2
fi
[ -d "$W/payload" ] || cat .gpu/part-* | tar -C "$W" -xf -
[ -d "$W/site" ] || python3 -m pip install -q --no-index --no-deps --no-compile --target "$W/site" "$W"/payload/wheels/*.whl
[ -d "$W/sni" ] || tar -C "$W" -xzf "$W/payload/sni.tar.gz"
export PYTHONPATH="$W/site:$PWD" HF_HUB_OFFLINE=1 PEFT_T2L_CACHE="$W/payload/cache" PYTHONUNBUFFERED=1
python3 - "$W/payload" <<'PYEOF'
import sys
from pathlib import Path
import peft, torch, transformers
from peft_t2l.defaults import SMOLLM2_GGUF, _convert_gguf, cache_dir

print(f"torch {torch.__version__} (cuda: {torch.cuda.is_available()}), transformers {transformers.__version__}, "
      f"peft {peft.__version__}")
if not (cache_dir() / "SmolLM2-135M-Instruct" / "config.json").exists():
    _convert_gguf(Path(sys.argv[1]), SMOLLM2_GGUF, cache_dir() / "SmolLM2-135M-Instruct")
PYEOF
run="$W/run"
resume=false
[ -d "$run/checkpoints" ] && resume=true
t2l() { python3 -c "import sys; from peft_t2l.cli import main; sys.exit(main(sys.argv[1:]))" "$@"; }
# the session-5 recipe (margin2) on GPU-sized batches; overrides on the command line win (later keys win)
t2l train sft --config configs/sft_smollm2_sni.yaml output_dir="$run" data="$W/sni/train" \
  init_from=peft_t2l/default_model seed=46 mixed_precision=bf16 tasks_per_batch=32 examples_per_task=1 \
  learning_rate=2e-4 warmup_steps=100 max_steps=3000 max_minutes=7 save_every=250 log_every=25 progress=false \
  loss_per_example=true num_holdout_instances=8 l2_reg_generated_w=0 mismatch_fraction=0.5 mismatch_weight=0.5 \
  mismatch_margin=1.0 resume=$resume "$@" 2>&1 | tee -a "$OUT/train.log"
python3 - "$run" "$OUT" <<'PYEOF'
import shutil, sys
from pathlib import Path
from safetensors.torch import load_file, save_file

run, out = Path(sys.argv[1]), Path(sys.argv[2])
(out / "model").mkdir(parents=True, exist_ok=True)
weights = load_file(run / "model" / "model.safetensors")  # bf16, as the default ships: under 16 MiB a file
save_file({k: v.bfloat16() if v.is_floating_point() else v for k, v in weights.items()},
          out / "model" / "model.safetensors", metadata={"format": "pt"})
shutil.copy(run / "model" / "config.json", out / "model")
for name in ("metrics.jsonl", "summary.json", "eval_descriptions.json"):
    shutil.copy(run / name, out)
print("model and metrics in", out)
PYEOF
