"""Serving benchmark: description adapters on vLLM (`t2l serve`) next to the in-process `T2LServer`.

    .venv-vllm/bin/t2l serve --port 8000 --max-adapters 512 -- --max-loras 64 --max-num-seqs 64 &
    .venv/bin/python -m benchmarks.vllm_serving --base-url http://127.0.0.1:8000/v1 --t2l-server

Prints, as a Markdown table:
- time to first token of a cold description (T2L forward + write + vLLM load + prefill) and of the same description
  warm, median of `--repeats` fresh descriptions;
- generated tokens per second for `--requests` concurrent requests: base model, one adapter, and 1/8/64 distinct
  (warm) descriptions; with `--t2l-server`, the same mixes through `T2LServer.generate` in one batch.
Every request generates exactly `--max-tokens` tokens (`ignore_eos`), so the mixes do equal work.

Results and the exact commands: docs/speed.md ("Serving descriptions on vLLM").
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

PROMPT = "Write one sentence about the sea."
BASE = "HuggingFaceTB/SmolLM2-135M-Instruct"


def description(i: int, salt: str = "") -> str:
    return f"Answer the user's request as task number {i}{salt}: be brief and precise."


def time_to_first_token(client, model: str, max_tokens: int = 8) -> float:
    """Seconds from sending a streamed chat request to its first content chunk.

    Args:
        client: an `openai.OpenAI` client.
        model: the `model` field, e.g. `t2l:<description>`.
        max_tokens: the request's token limit (only the first token is timed).

    Example:
        ```python
        >>> time_to_first_token(OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="x"), "t2l:Translate to French.")
        0.21
        ```
    """
    start = time.perf_counter()
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": PROMPT}], max_tokens=max_tokens, temperature=0, stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            took = time.perf_counter() - start
            break
    else:
        took = time.perf_counter() - start
    for _ in stream:  # drain, so the request finishes before the next one
        pass
    return took


def vllm_throughput(client, models: list[str], max_tokens: int) -> float:
    """Generated tokens per second for one concurrent request per entry of `models`."""

    def one(model: str) -> int:
        reply = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": PROMPT}],
            max_tokens=max_tokens,
            temperature=0,
            extra_body={"ignore_eos": True},
        )
        return reply.usage.completion_tokens

    start = time.perf_counter()
    with ThreadPoolExecutor(len(models)) as pool:
        tokens = sum(pool.map(one, models))
    return tokens / (time.perf_counter() - start)


def mixes(requests: int) -> dict[str, list[str | None]]:
    """Request mixes: `None` is the base model, otherwise a description."""
    out: dict[str, list[str | None]] = {"base model": [None] * requests, "one adapter": [description(0)] * requests}
    for distinct in (1, 8, 64):
        if distinct <= requests:
            out[f"{distinct} distinct descriptions"] = [description(i % distinct) for i in range(requests)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--requests", type=int, default=64, help="concurrent requests per throughput mix")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens generated per request")
    parser.add_argument("--repeats", type=int, default=5, help="cold/warm descriptions timed")
    parser.add_argument("--t2l-server", action="store_true", help="also run the mixes through T2LServer")
    parser.add_argument(
        "--t2l-threads",
        type=int,
        default=None,
        help="torch threads for T2LServer (vLLM's CPU build computes on all cores but one: pass that count to compare "
        "like with like)",
    )
    parser.add_argument("--no-vllm", action="store_true", help="only the T2LServer rows (no server needed)")
    parser.add_argument("--latency-only", action="store_true", help="only vLLM's cold/warm time to first token")
    args = parser.parse_args()
    rows = [] if args.no_vllm else vllm_rows(args)
    if args.t2l_server or args.no_vllm:
        rows += t2l_server_rows(args)
    print("| engine | measure | value |\n| --- | --- | --- |")
    for engine, measure, value in rows:
        print(f"| {engine} | {measure} | {value:.3f} |")


def vllm_rows(args: argparse.Namespace) -> list[tuple[str, str, float]]:
    """Cold/warm time to first token and the throughput mixes, through the server at `--base-url`."""
    from openai import OpenAI

    client = OpenAI(base_url=args.base_url, api_key="unused", timeout=3600, max_retries=0)
    salt = uuid.uuid4().hex[:8]  # fresh descriptions: cold means never seen by this server or its cache folder
    cold, warm = [], []
    for i in range(args.repeats):
        model = f"t2l:{description(i, ' ' + salt)}"
        cold.append(time_to_first_token(client, model))
        warm.append(time_to_first_token(client, model))
    rows = [
        ("vLLM", "time to first token, cold description (s)", statistics.median(cold)),
        ("vLLM", "time to first token, warm description (s)", statistics.median(warm)),
        ("vLLM", "cold minus warm, per description, median (s)", statistics.median(c - w for c, w in zip(cold, warm))),
    ]
    if args.latency_only:
        return rows
    for name, mix in mixes(args.requests).items():
        models = [BASE if d is None else f"t2l:{d}" for d in mix]
        for model in set(models):  # warm: every description resolved and loaded once before timing
            time_to_first_token(client, model, max_tokens=1)
        rows.append(
            ("vLLM", f"tokens/s, {args.requests} requests, {name}", vllm_throughput(client, models, args.max_tokens))
        )
    return rows


def t2l_server_rows(args: argparse.Namespace) -> list[tuple[str, str, float]]:
    """The same throughput mixes through the in-process `T2LServer.generate`, one batch per mix."""
    import torch

    from peft_t2l import load_base_model, load_t2l_model
    from peft_t2l.serving import T2LServer

    if args.t2l_threads:
        torch.set_num_threads(args.t2l_threads)
    threads = torch.get_num_threads()
    rows = []
    t2l = load_t2l_model("default")
    base, tokenizer = load_base_model(t2l.config.base_model_name_or_path)
    server = T2LServer(base, t2l, tokenizer, max_attached=64)
    for name, mix in mixes(args.requests).items():
        prompts = [PROMPT] * len(mix)
        server.generate(prompts, mix, max_new_tokens=1, do_sample=False)  # warm: adapters written and attached
        start = time.perf_counter()
        server.generate(prompts, mix, max_new_tokens=args.max_tokens, min_new_tokens=args.max_tokens, do_sample=False)
        rate = len(mix) * args.max_tokens / (time.perf_counter() - start)
        rows.append((f"T2LServer ({threads} thread(s))", f"tokens/s, {args.requests} requests, {name}", rate))
    return rows


if __name__ == "__main__":
    main()
