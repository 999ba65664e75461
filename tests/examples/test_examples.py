"""The five MemOS examples, run from the repository root as subprocesses on the embedded stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Each example starts its own interpreter and loads models (15-35 s each). They are not marked
# slow: running the five MemOS examples on a fresh machine is part of what CI must prove.
pytestmark = [pytest.mark.services]


def run_example(script: str, home: Path, stdin: str = "") -> str:
    env = {
        **os.environ,
        "MEMOS_HOME": str(home),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.run(
        [sys.executable, script],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=540,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    return proc.stdout


def test_simple_memos(stack_home: Path) -> None:
    out = run_example(
        "examples/mem_os/simple_memos.py", stack_home, "What sport do I like?\nexit\n"
    )
    assert "lcy1 (lcy1) - Role: user" in out
    assert "Search results for user" in out and "football" in out
    assert "🤖 [Assistant]" in out and "MemChat has stopped" in out


def test_tree_textual_memory(stack_home: Path) -> None:
    out = run_example("examples/core_memories/tree_textual_memory.py", stack_home)
    assert "0'th added result is:" in out
    assert "childhood" in out.split("Successfully search")[0]
    assert "Dumped " in out


def test_kv_cache_memory(stack_home: Path) -> None:
    out = run_example("examples/core_memories/kv_cache_memory.py", stack_home)
    assert "merged cache holds" in out
    assert "After delete_all: 0" in out
    loaded = out.split("Memory loaded from")[1]
    assert "[]" not in loaded  # the dumped item came back


def test_hybrid_tree_kv_memos(stack_home: Path) -> None:
    out = run_example(
        "examples/mem_os/hybrid_tree_kv_memos.py", stack_home, "What do I like?\nexit\n"
    )
    assert "KV memories:" in out and "I like football" in out
    assert "🤖 [Assistant]" in out


def test_memos_w_scheduler(stack_home: Path) -> None:
    out = run_example("examples/mem_scheduler/memos_w_scheduler.py", stack_home)
    assert out.count("===== Chat End =====") == 4
    assert "kv_refresh: {'cube_id': 'user_1:mem_cube_5'" in out
    assert "activation memory (" in out
    assert "[UserMemory]" in out or "[LongTermMemory]" in out
