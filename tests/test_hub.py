"""push_to_hub for T2L models and generated adapters, with the Hub API replaced by a recorder (no network here)."""

from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import make_tiny_llama, make_tiny_t2l
from huggingface_hub import HfApi


@pytest.fixture
def hub(monkeypatch):
    """Record create_repo / upload_folder calls and a copy of every uploaded file."""
    calls = {"repos": [], "uploads": []}

    def create_repo(self, repo_id, **kwargs):
        calls["repos"].append((repo_id, kwargs))
        return SimpleNamespace(repo_id=repo_id)

    def upload_folder(self, *, repo_id, folder_path, commit_message=None, **kwargs):
        files = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}
        calls["uploads"].append({"repo_id": repo_id, "files": files, "message": commit_message})
        return f"https://huggingface.co/{repo_id}/commit/0"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return calls


def test_t2l_push_to_hub_uploads_weights_remote_code_and_its_own_card(hub):
    t2l = make_tiny_t2l(make_tiny_llama())
    t2l.config.training_summary = {"regime": "sft", "steps": 12}
    t2l.push_to_hub("my-org/t2l-tiny", private=True)
    assert hub["repos"] == [("my-org/t2l-tiny", {"private": True, "exist_ok": True})]
    (upload,) = hub["uploads"]
    assert {"config.json", "model.safetensors", "modeling_t2l.py", "configuration_t2l.py", "README.md"} <= set(
        upload["files"]
    )
    card = upload["files"]["README.md"].decode()
    assert "library_name: peft-t2l" in card and 'AutoModel.from_pretrained("my-org/t2l-tiny")' in card
    assert "**steps**: 12" in card
    assert not [f for f in upload["files"] if f.endswith((".bin", ".pt", ".pkl"))]


def test_generated_lora_push_to_hub_is_a_plain_peft_folder(hub):
    lora = make_tiny_t2l(make_tiny_llama()).generate_lora("answer trivia questions")
    url = lora.push_to_hub("me/trivia-lora")
    (upload,) = hub["uploads"]
    assert set(upload["files"]) == {"adapter_config.json", "adapter_model.safetensors", "README.md"}
    assert b'"peft_type": "LORA"' in upload["files"]["adapter_config.json"]
    assert "answer trivia questions" in upload["message"] and url.endswith("/commit/0")
