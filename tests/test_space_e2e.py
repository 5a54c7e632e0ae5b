"""End to end: the Space served on 127.0.0.1 and driven through `gradio_client`, as an API user would."""

import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "space"))

from t2l_demo.config import AppConfig  # noqa: E402
from t2l_demo.tiny import tiny_models  # noqa: E402
from t2l_demo.ui import build_demo  # noqa: E402

DESCRIPTION = "Classify the sentiment of a movie review as positive or negative."
TASKS = ["Translate English sentences into French.", "Solve math word problems.", "Summarise news in a sentence."]


def serve(models, config):
    demo = build_demo(models, config)
    _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    return demo, url


@pytest.fixture(scope="module")
def url():
    demo, url = serve(tiny_models(slots=3), AppConfig(max_new_tokens=8, loaded_adapters=3))
    yield url
    demo.close()


def client(url: str) -> Client:
    return Client(url, verbose=False, download_files=False)


def texts(conversation: list[dict]) -> list[str]:
    return ["".join(block["text"] for block in message["content"]) for message in conversation]


def test_generate_then_chat(url):
    c = client(url)
    status, plot, adapters = c.predict(DESCRIPTION, api_name="/generate")
    assert "Generated in" in status and "parameters" in status
    assert plot["columns"] == ["layer", "module", "norm"] and len(plot["data"]) == 4  # 2 layers x 2 modules
    assert adapters["value"] and adapters["choices"][0][1] == adapters["value"]
    job = c.submit("Hello", [], [], api_name="/chat")
    box, adapted, base = job.result(timeout=60)
    assert box == ""
    assert texts(adapted)[0] == texts(base)[0] == "Hello" and len(adapted) == len(base) == 2
    assert texts(adapted)[1] and texts(base)[1] and texts(adapted)[1] != texts(base)[1]
    assert len(job.outputs()) > 2  # streamed, not one final answer
    box, adapted, base = c.predict("And now?", adapted, base, api_name="/chat")
    assert texts(adapted)[2] == "And now?" and len(adapted) == 4


def test_bad_input_is_answered_clearly_and_the_app_stays_up(url):
    c = client(url)
    with pytest.raises(AppError, match="Generate an adapter first"):
        c.predict("Hi", [], [], api_name="/chat")
    with pytest.raises(AppError, match="description is empty"):
        c.predict("", api_name="/generate")
    with pytest.raises(AppError, match="10,000 characters long; the limit is 2,000"):
        c.predict("x" * 10_000, api_name="/generate")
    c.predict(DESCRIPTION, api_name="/generate")
    with pytest.raises(AppError, match="message is empty"):
        c.predict("", [], [], api_name="/chat")
    with pytest.raises(AppError, match="limit is 2,000"):
        c.predict("y" * 10_000, [], [], api_name="/chat")
    _, adapted, _ = c.predict("Still there?", [], [], api_name="/chat")
    assert texts(adapted)[1]


def test_many_parallel_requests_each_get_their_own_answer(url):
    clients = [client(url) for _ in range(3)]
    for c, task in zip(clients, TASKS):
        c.predict(task, api_name="/generate")
    alone = [texts(c.predict("Hi", [], [], api_name="/chat")[1])[1] for c in clients]
    jobs = [(i, c.submit("Hi", [], [], api_name="/chat")) for _ in range(4) for i, c in enumerate(clients)]
    jobs += [(None, clients[0].submit("", api_name="/generate")) for _ in range(3)]
    for i, job in jobs:
        if i is None:
            with pytest.raises(AppError, match="empty"):
                job.result(timeout=120)
        else:
            assert texts(job.result(timeout=120)[1])[1] == alone[i]  # no cross-talk between sessions
    assert len(set(alone)) == 3


def test_download_gives_a_peft_folder_zip(url):
    c = Client(url, verbose=False)
    c.predict(DESCRIPTION, api_name="/generate")
    archive = c.predict(api_name="/download")
    with zipfile.ZipFile(archive) as z:
        names = {Path(n).name for n in z.namelist()}
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= names


def test_a_full_queue_turns_requests_away_clearly():
    demo, url = serve(tiny_models(), AppConfig(max_new_tokens=120, max_queue=2))
    try:
        c = client(url)
        c.predict(DESCRIPTION, api_name="/generate")
        with ThreadPoolExecutor(max_workers=6) as pool:
            jobs = [c.submit("Hello", [], [], api_name="/chat") for _ in range(6)]
            outcomes = list(pool.map(lambda job: _outcome(job), jobs))
        assert "ok" in outcomes and any("queue is full" in o.lower() for o in outcomes), outcomes
        assert texts(c.predict("Hi", [], [], api_name="/chat")[1])[1]  # and it still answers afterwards
    finally:
        demo.close()


def _outcome(job) -> str:
    try:
        job.result(timeout=120)
        return "ok"
    except Exception as err:  # the client raises for a rejected job; its message is what the user sees
        return str(err)


@pytest.mark.real
def test_real_smollm2_and_minilm():
    """The default models (SmolLM2-135M-Instruct, MiniLM), offline; the T2L falls back to untrained."""
    from t2l_demo.runtime import load_models

    from peft_t2l.defaults import EMBEDDED_T2L

    config = AppConfig(device="cpu", max_new_tokens=8)
    models = load_models(config)
    assert models.untrained == (not (EMBEDDED_T2L / "config.json").exists())
    demo, url = serve(models, config)
    try:
        c = client(url)
        status, plot, _ = c.predict(DESCRIPTION, api_name="/generate")
        if models.untrained:  # the fallback: rank 8 on q_proj, v_proj over SmolLM2's 30 layers
            assert "460,800 parameters" in status
        assert len(plot["data"]) == 60
        _, adapted, base = c.predict("Review: a wonderful, moving film.", [], [], api_name="/chat")
        assert texts(adapted)[1].strip() and texts(base)[1].strip()
    finally:
        demo.close()
