"""remove_think_prefix and its streaming form."""

from __future__ import annotations

import pytest

from memos.llms.utils import remove_think_prefix, strip_think_stream


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>plan</think>\n\nAnswer", "Answer"),
        ("  <think>a\nb</think>Answer", "Answer"),
        ("<think>never closed", ""),
        ("No thinking here", "No thinking here"),
        ("Answer <think>inline</think> stays", "Answer <think>inline</think> stays"),
    ],
)
def test_remove_think_prefix(text: str, expected: str) -> None:
    assert remove_think_prefix(text) == expected


@pytest.mark.parametrize(
    "chunks",
    [
        ["<thi", "nk>x", "y</th", "ink>", "\nAns", "wer"],
        ["<think>xy</think>Answer"],
        ["<", "think>", "</think>", "", "Answer"],
    ],
)
def test_strip_think_stream_matches_batch(chunks: list[str]) -> None:
    assert "".join(strip_think_stream(iter(chunks))) == "Answer"


def test_strip_think_stream_passes_plain_text_through() -> None:
    assert list(strip_think_stream(iter(["<", "b>bold", " text"]))) == ["<b>bold", " text"]
