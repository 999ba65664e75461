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

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Tests never touch the real data home (~/.memos, or a MEMOS_HOME exported for production use,
# such as the Docker image's /var/lib/memos): every test session gets its own, set before
# anything reads MEMOS_HOME. Converted models go to a machine-wide cache instead
# (MEMOS_MODEL_CACHE below). MEMOS_TEST_HOME names a home to use (and keep) instead.
_KEPT_HOME = os.environ.get("MEMOS_TEST_HOME")
SESSION_HOME = Path(_KEPT_HOME or tempfile.mkdtemp(prefix="memos-test-home-")).absolute()
SESSION_HOME.mkdir(parents=True, exist_ok=True)
os.environ["MEMOS_HOME"] = str(SESSION_HOME)
# Converting the packaged GGUF costs 20-60 s: share one conversion per machine across sessions
# (and across the per-test homes some suites create), outside any real data home.
os.environ.setdefault("MEMOS_MODEL_CACHE", str(Path(tempfile.gettempdir()) / "memos-test-models"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop, by PID, any stack still recorded under the session home, then remove it."""
    from tests.embedded.helpers import stop_stacks_under

    stop_stacks_under(SESSION_HOME)
    if not _KEPT_HOME:
        shutil.rmtree(SESSION_HOME, ignore_errors=True)


@pytest.fixture(autouse=True)
def _restore_handler_registry() -> Iterator[None]:
    """Handlers a test registers in this process do not leak into the next test."""
    from memos.workers.handlers import restore_registry, snapshot_registry

    saved = snapshot_registry()
    yield
    restore_registry(saved)


@pytest.fixture(scope="session")
def memos_home() -> Path:
    """The data home private to this test run (``$MEMOS_HOME`` as the session set it)."""
    return SESSION_HOME


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
