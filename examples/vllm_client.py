"""Two task descriptions, one vLLM server: each request names its task in `model`, and gets a LoRA written for it.

    .venv-vllm/bin/t2l serve --port 8000          # in another terminal (see docs/serving.md)
    python examples/vllm_client.py --base-url http://127.0.0.1:8000/v1

Uses only the `openai` package: any OpenAI-compatible client works the same way. The first request for a description
runs the T2L (milliseconds) and loads the adapter; later ones reuse it.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

from openai import OpenAI

REQUESTS = [
    ("Given a country, answer with the name of its capital city.", "Japan"),
    ("Classify the sentiment of a movie review as positive or negative.", "A waste of two hours."),
]


def ask(client: OpenAI, description: str, prompt: str, max_tokens: int) -> tuple[str, float]:
    """One chat completion under the LoRA for `description`; returns the answer and its latency in seconds.

    Args:
        client: an `openai.OpenAI` client pointed at the server's `/v1`.
        description: the task, in words; sent as the model name `t2l:<description>`.
        prompt: the user message.
        max_tokens: longest answer.

    Example:
        ```python
        >>> ask(OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="none"), "Translate to French.", "Hello", 16)
        ('Bonjour', 0.41)
        ```
    """
    start = time.perf_counter()
    reply = client.chat.completions.create(
        model=f"t2l:{description}",
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=0,
    )
    return reply.choices[0].message.content.strip(), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/v1", help="the server's OpenAI API root")
    parser.add_argument("--max-tokens", type=int, default=24, help="longest answer")
    args = parser.parse_args()
    client = OpenAI(base_url=args.base_url, api_key="unused")  # vLLM checks a key only when started with --api-key
    # both descriptions at once: the server batches them, each row under its own adapter
    with ThreadPoolExecutor(len(REQUESTS)) as pool:
        answers = list(pool.map(lambda req: ask(client, *req, args.max_tokens), REQUESTS))
    for (description, prompt), (answer, seconds) in zip(REQUESTS, answers):
        print(f"task   : {description}\nprompt : {prompt}\nanswer : {answer}   ({seconds:.2f} s)\n")
    models = [m.id for m in client.models.list().data]
    print(f"the server now lists {len(models)} models: the base model and one adapter per description")


if __name__ == "__main__":
    main()
