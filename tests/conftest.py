"""Session-wide test set-up: few threads, offline models, one embedded stack per run."""

from __future__ import annotations

import os

# Set before torch / faiss / tokenizers are imported anywhere: the machines have 2 cores and
# OpenMP spinning slows single queries 3-4x; nothing may reach a model hub.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def memos_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data home private to this test run."""
    return tmp_path_factory.mktemp("memos_home")


@pytest.fixture(scope="session")
def embedded_stack(memos_home: Path) -> Iterator[object]:
    """The embedded Redis + ArcadeDB, started once per run and stopped by PID at the end."""
    from memos.embedded.stack import EmbeddedStack

    stack = EmbeddedStack(home=memos_home / "stack")
    state = stack.up()
    try:
        yield state
    finally:
        stack.down()
