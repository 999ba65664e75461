"""Where converted models are cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from memos.llms.models import MODEL_CACHE_ENV, default_cache_dir


def test_model_cache_env_overrides_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(MODEL_CACHE_ENV, str(tmp_path))
    assert default_cache_dir("smollm2/135m") == tmp_path / "smollm2_135m"


def test_model_cache_defaults_to_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(MODEL_CACHE_ENV, raising=False)
    monkeypatch.setenv("MEMOS_HOME", str(tmp_path))
    assert default_cache_dir("x") == tmp_path / "models" / "x"
