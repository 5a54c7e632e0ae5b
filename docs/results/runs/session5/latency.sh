#!/usr/bin/env bash
# Session 5: vLLM cold vs warm time to first token over 10 fresh descriptions, on a quiet machine.
#   bash docs/results/runs/session5/latency.sh
cd "$(dirname "$0")/../../../.."
export HF_HUB_OFFLINE=1
rm -rf /tmp/t2lbench2
VLLM_CPU_KVCACHE_SPACE=1 .venv-vllm/bin/t2l serve --port 8125 --cache-dir /tmp/t2lbench2 --max-adapters 512 --max-loras 64 -- --max-num-seqs 64 --max-model-len 512 --enforce-eager > runs/s5/lat-server.log 2>&1 &
server=$!
for _ in $(seq 200); do curl -sf http://127.0.0.1:8125/v1/models > /dev/null && break; sleep 2; done
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
.venv/bin/python -m benchmarks.vllm_serving --base-url http://127.0.0.1:8125/v1 --repeats 10 --latency-only 2>/dev/null
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
kill $server; wait $server 2>/dev/null
