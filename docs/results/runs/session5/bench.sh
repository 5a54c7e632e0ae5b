#!/usr/bin/env bash
# Session 5: the vLLM serving benchmark with the T2LServer column in the same run, on a machine with nothing else
# running (checked with the load average printed first). Writes docs/results/s5/vllm_serving.md.
#   bash docs/results/runs/session5/bench.sh
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1
set -u
mkdir -p docs/results/s5 runs/s5
rm -rf /tmp/t2lbench
VLLM_CPU_KVCACHE_SPACE=1 .venv-vllm/bin/t2l serve --port 8124 --cache-dir /tmp/t2lbench --max-adapters 512 \
  --max-loras 64 -- --max-num-seqs 64 --max-model-len 512 --enforce-eager > runs/s5/bench-server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 300); do
  curl -sf http://127.0.0.1:8124/v1/models > /dev/null && break
  sleep 2
done
out=docs/results/s5/vllm_serving.md
{
  echo "# vLLM serving benchmark, session 5 ($(date -u +%F), $(nproc) CPUs, load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
  echo
  echo '```bash'
  echo "VLLM_CPU_KVCACHE_SPACE=1 .venv-vllm/bin/t2l serve --port 8124 --cache-dir /tmp/t2lbench --max-adapters 512 \\"
  echo "  --max-loras 64 -- --max-num-seqs 64 --max-model-len 512 --enforce-eager &"
  echo ".venv/bin/python -m benchmarks.vllm_serving --base-url http://127.0.0.1:8124/v1 --requests 64 --max-tokens 16 \\"
  echo "  --repeats 3 --t2l-server"
  echo '```'
  echo
  .venv/bin/python -m benchmarks.vllm_serving --base-url http://127.0.0.1:8124/v1 --requests 64 --max-tokens 16 \
    --repeats 3 --t2l-server 2> runs/s5/bench-client.err
  echo
  echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} > $out
cat $out
