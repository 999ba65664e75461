"""Documents: txt, md and pdf read and cut into overlapping chunks."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from memos.configs.mem_reader import SentenceChunkerConfig
from memos.errors import InvalidMemoryInputError
from memos.mem_reader.chunking import chunk_text, count_tokens, read_document


def _sentences(n: int) -> str:
    return " ".join(f"Sentence number {i} talks about topic {i}." for i in range(n))


def test_chunks_respect_size_and_overlap() -> None:
    config = SentenceChunkerConfig(chunk_size=30, chunk_overlap=10)
    chunks = chunk_text(_sentences(12), config)
    assert len(chunks) > 2
    assert all(count_tokens(c.text) <= 30 for c in chunks)
    for prev, nxt in itertools.pairwise(chunks):
        # The next chunk starts with the previous chunk's last sentence.
        last_sentence = prev.text.rsplit(". ", 1)[-1]
        assert nxt.text.startswith(last_sentence.rstrip("."))
    # Every sentence is in some chunk.
    joined = " ".join(c.text for c in chunks)
    assert all(f"topic {i}." in joined for i in range(12))
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_long_sentence_is_split_on_words() -> None:
    config = SentenceChunkerConfig(chunk_size=10, chunk_overlap=0)
    chunks = chunk_text(" ".join(["word"] * 35), config)
    assert [count_tokens(c.text) for c in chunks] == [10, 10, 10, 5]


def test_overlap_must_be_below_size() -> None:
    with pytest.raises(ValueError, match="chunk_overlap"):
        SentenceChunkerConfig(chunk_size=10, chunk_overlap=10)


def test_read_txt_md_and_errors(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello txt", encoding="utf-8")
    (tmp_path / "b.md").write_text("# Title\n\nhello md", encoding="utf-8")
    assert read_document(tmp_path / "a.txt") == "hello txt"
    assert "hello md" in read_document(tmp_path / "b.md")
    with pytest.raises(InvalidMemoryInputError, match="does not exist"):
        read_document(tmp_path / "missing.txt")
    (tmp_path / "c.docx").write_bytes(b"x")
    with pytest.raises(InvalidMemoryInputError, match="unsupported type"):
        read_document(tmp_path / "c.docx")


def make_pdf(path: Path, lines: list[str]) -> None:
    """Write a minimal one-page PDF with the given text lines (hand-built, no library)."""
    stream = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{obj}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    path.write_bytes(out)


def test_read_pdf(tmp_path: Path) -> None:
    pdf = tmp_path / "doc.pdf"
    make_pdf(pdf, ["The aurora project started in 2021.", "It studies polar lights."])
    text = read_document(pdf)
    assert "aurora project started in 2021" in text
    assert "polar lights" in text
