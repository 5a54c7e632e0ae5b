"""`t2l serve` end to end: a real vLLM server (from .venv-vllm) answers `t2l:<description>` requests.

One server per module (starting vLLM is the slow part); requests go through the `openai` client like a user's would.
The server runs in float32 so that its greedy answers can be compared token for token with PEFT's.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VLLM_T2L = ROOT / ".venv-vllm" / "bin" / "t2l"
START_TIMEOUT = float(os.environ.get("T2L_VLLM_TEST_START_TIMEOUT", "900"))  # a busy 2-core machine is slow
MAX_ADAPTERS = 3
MAX_TOKENS = 12
PROMPTS = ["Japan", "What is 12 + 30?"]
D1 = "Given a country, answer with the name of its capital city."
D2 = "Classify the sentiment of a movie review as positive or negative."
D3 = "Translate the given English sentence into French."
D4 = "Answer the arithmetic question with a single number."

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.real,
    pytest.mark.slow,  # starts a vLLM server process: minutes; CI runs it with -m slow
    pytest.mark.skipif(not VLLM_T2L.exists(), reason="no .venv-vllm: build it with `bash scripts/setup.sh --vllm`"),
]
openai = pytest.importorskip("openai", reason="the client tests need `openai` (pip install -e '.[dev]')")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=5) as reply:
            return reply.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`t2l serve` on 127.0.0.1 with a 3-adapter cache and a second T2L registered for another base model."""
    from peft_t2l.defaults import EMBEDDED_T2L

    tmp = tmp_path_factory.mktemp("vllm")
    other = tmp / "t2l-for-another-base"
    other.mkdir()
    config = json.loads((EMBEDDED_T2L / "config.json").read_text())
    config["base_model_name_or_path"] = "HuggingFaceTB/SmolLM2-360M-Instruct"
    (other / "config.json").write_text(json.dumps(config))
    port, log = _free_port(), tmp / "server.log"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB: plenty for 512-token sequences of a 135M model
        "T2L_VLLM_EXTRA_MODELS": f"other={other}",
        "T2L_VLLM_RETIRE_SECONDS": "0",
    }
    env.pop("VLLM_PLUGINS", None)
    cmd = [str(VLLM_T2L), "serve", "--port", str(port), "--cache-dir", str(tmp / "cache")]
    cmd += ["--max-adapters", str(MAX_ADAPTERS), "--max-loras", "4", "--"]
    cmd += ["--dtype", "float32", "--max-model-len", "512", "--enforce-eager", "--max-num-seqs", "8"]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    try:
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() - started > START_TIMEOUT:
                pytest.fail(f"vLLM did not come up (exit {proc.poll()}); log tail:\n{log.read_text()[-4000:]}")
            time.sleep(2)
        print(f"vLLM server up in {time.monotonic() - started:.0f} s")
        yield {
            "client": openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=600),
            "cache": tmp / "cache",
            "log": log,
            "proc": proc,
        }
    finally:
        # vLLM's own shutdown stops its engine process; the group kill is for a server that hangs
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def peft_answer():
    """The reference: PEFT's greedy answer with the LoRA the same T2L writes for the same description."""
    import torch

    from peft_t2l import load_base_model, load_t2l_model

    t2l = load_t2l_model("default")
    base, tokenizer = load_base_model(t2l.config.base_model_name_or_path)
    done = {}

    def answer(description: str, prompt: str) -> str:
        if (description, prompt) not in done:
            model = t2l.generate_lora(description).to_peft_model(base)
            messages = [{"role": "user", "content": prompt}]
            inputs = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
            with torch.no_grad():
                ids = model.generate(**inputs, max_new_tokens=MAX_TOKENS, do_sample=False)
            done[description, prompt] = tokenizer.decode(
                ids[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True
            ).strip()
            model.unload()  # PEFT injected the LoRA layers into `base` in place: the next description starts clean
        return done[description, prompt]

    return answer


def ask(server, model: str, prompt: str) -> str:
    reply = server["client"].chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], max_tokens=MAX_TOKENS, temperature=0
    )
    return reply.choices[0].message.content.strip()


def stats(server) -> dict:
    (served,) = (server["cache"] / "served").iterdir()  # one server process resolves
    return json.loads((served / "stats.json").read_text())


def test_greedy_answers_equal_peft_with_the_same_adapter(server, peft_answer):
    for prompt in PROMPTS:
        assert ask(server, f"t2l:{D1}", prompt) == peft_answer(D1, prompt)
    assert stats(server)["generated"] == 1
    base = ask(server, "HuggingFaceTB/SmolLM2-135M-Instruct", PROMPTS[0])  # the base model is still served by id
    assert isinstance(base, str)


def test_concurrent_descriptions_each_get_their_own_adapter(server, peft_answer):
    prompt = PROMPTS[0]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda d: ask(server, f"t2l:{d}", prompt), [D2, D3]))
    assert answers == [peft_answer(D2, prompt), peft_answer(D3, prompt)]
    listed = {m.id for m in server["client"].models.list().data}
    assert {f"t2l:{D1}", f"t2l:{D2}", f"t2l:{D3}"} <= listed
    assert stats(server)["generated"] == 3


def test_a_repeated_description_is_a_cache_hit(server, peft_answer):
    before = stats(server)
    assert ask(server, f"t2l:{D2}", PROMPTS[1]) == peft_answer(D2, PROMPTS[1])
    after = stats(server)
    assert after["generated"] == before["generated"] and after["misses"] == before["misses"]


@pytest.mark.parametrize(
    "model, status, words",
    [
        ("t2l:", 400, ["empty description"]),
        ("t2l:" + "x" * 2500, 400, ["2,500 characters", "T2L_VLLM_MAX_DESCRIPTION_CHARS"]),
        ("no-such-adapter", 404, ["no-such-adapter", "does not exist"]),
        ("t2l@nobody:Translate to French.", 400, ["No T2L model is named 'nobody'"]),
        (f"t2l@other:{D1}", 400, ["SmolLM2-360M-Instruct", "this server serves"]),
    ],
)
def test_bad_input_is_a_4xx_and_the_server_keeps_serving(server, peft_answer, model, status, words):
    with pytest.raises(openai.APIStatusError) as err:
        ask(server, model, PROMPTS[0])
    assert err.value.status_code == status
    for word in words:
        assert word in err.value.message
    assert ask(server, f"t2l:{D1}", PROMPTS[0]) == peft_answer(D1, PROMPTS[0])


def test_the_cache_bound_evicts_and_an_evicted_description_comes_back(server, peft_answer):
    ask(server, f"t2l:{D4}", PROMPTS[1])  # a 4th description: D1, the oldest, is forgotten and its copy deleted
    now = stats(server)
    assert now["forgotten"] >= 1 and now["registered"] <= MAX_ADAPTERS and now["stored"] <= MAX_ADAPTERS
    assert len(list((server["cache"] / "adapters").iterdir())) <= MAX_ADAPTERS
    assert f"t2l:{D1}" not in {m.id for m in server["client"].models.list().data}
    assert ask(server, f"t2l:{D1}", PROMPTS[1]) == peft_answer(D1, PROMPTS[1])  # resolved, and written, again
    assert stats(server)["generated"] == now["generated"] + 1
    assert server["proc"].poll() is None


def test_server_log_has_no_traceback(server):
    assert "Traceback" not in server["log"].read_text()


def test_the_example_client_runs(server):
    base_url = str(server["client"].base_url).rstrip("/")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "vllm_client.py"), "--base-url", base_url],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("answer :") == 2


PLUGIN_SCRIPT = """
import asyncio, os, sys
from vllm.plugins import load_general_plugins
from vllm.lora.resolver import LoRAResolverRegistry
from vllm.entrypoints.serve.exception_handling.error_response import create_error_response

load_general_plugins()  # VLLM_PLUGINS=peft_t2l: only ours
assert set(LoRAResolverRegistry.get_supported_resolvers()) == {"peft-t2l"}, LoRAResolverRegistry.resolvers
resolver = LoRAResolverRegistry.get_resolver("peft-t2l")

class ServingModels:  # what the resolver uses of vLLM's OpenAIServingModels: two attributes, and being the caller
    def __init__(self):
        self.lora_resolvers = [resolver]
        self.lora_requests = {}

    async def resolve_lora(self, name):
        return await self.lora_resolvers[0].resolve_lora(base, name)

models = ServingModels()
base = "HuggingFaceTB/SmolLM2-135M-Instruct"

async def main():
    try:
        await models.resolve_lora("t2l:   ")
        raise SystemExit("an empty description was accepted")
    except Exception as err:
        reply = create_error_response(err)
        print("error", reply.error.code, reply.error.message)
    print("other", await models.resolve_lora("my-published-lora"))
    for text in ("one", "two", "three"):
        request = await models.resolve_lora(f"t2l:Task {text}.")
        models.lora_requests[request.lora_name] = request
        print("resolved", request.lora_name, os.path.isfile(os.path.join(request.lora_path, "adapter_config.json")))
    print("registered", sorted(models.lora_requests))

asyncio.run(main())
"""


def test_the_plugin_loads_in_vllm_and_maps_errors(tmp_path):
    """In vLLM's own process, without a server: entry point, 400 mapping, forgetting beyond the bound."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "VLLM_PLUGINS": "peft_t2l",
        "T2L_VLLM_CACHE_DIR": str(tmp_path),
        "T2L_VLLM_MAX_ADAPTERS": "2",
    }
    proc = subprocess.run(
        [str(VLLM_T2L.parent / "python"), "-c", PLUGIN_SCRIPT], env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert any(line.startswith("error 400 ") and "empty description" in line for line in lines), proc.stdout
    assert "other None" in lines
    assert sum(line.startswith("resolved t2l:Task") and line.endswith("True") for line in lines) == 3
    assert "registered ['t2l:Task three.', 't2l:Task two.']" in lines  # the oldest was forgotten
