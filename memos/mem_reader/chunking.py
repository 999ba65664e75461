"""Read documents (txt, md, pdf) and cut them into overlapping, sentence-aligned chunks."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from memos.configs.mem_reader import BaseChunkerConfig
from memos.errors import ExtractionError, InvalidMemoryInputError

__all__ = ["TEXT_SUFFIXES", "Chunk", "chunk_text", "count_tokens", "read_document"]

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".text", ".rst"})

# Word-like pieces plus single punctuation marks: a tokenizer-free stand-in for GPT-2 counts.
_TOKEN_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
# Sentence ends: ., ! or ? followed by space, or a blank line (paragraph / markdown block).
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?])\s+|\n\s*\n")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk of a document: its text and its position among the document's chunks."""

    index: int
    text: str


def count_tokens(text: str) -> int:
    """Approximate token count (words and punctuation marks)."""
    return len(_TOKEN_RE.findall(text))


def read_document(path: str | Path) -> str:
    """Return the text of a txt/md file or a PDF (pages joined by blank lines).

    Raises:
        InvalidMemoryInputError: the file does not exist or has an unsupported suffix.
        ExtractionError: the file exists but cannot be read or decoded.
    """
    file = Path(path)
    if not file.is_file():
        raise InvalidMemoryInputError(f"document {file} does not exist or is not a file")
    suffix = file.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        try:
            return file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ExtractionError(f"document {file} cannot be read as UTF-8 text: {exc}") from exc
    if suffix == ".pdf":
        return _read_pdf(file)
    raise InvalidMemoryInputError(
        f"document {file} has unsupported type {suffix or '(none)'}; "
        f"supported: {', '.join(sorted(TEXT_SUFFIXES))}, .pdf"
    )


def _read_pdf(file: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(str(file))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, OSError, ValueError, KeyError) as exc:
        raise ExtractionError(f"PDF {file} cannot be read: {exc}") from exc
    return "\n\n".join(p.strip() for p in pages if p.strip())


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_SPLIT_RE.split(text) if s and s.strip()]


def _split_long(sentence: str, limit: int) -> list[str]:
    """Cut a sentence longer than ``limit`` tokens into word runs of at most ``limit``."""
    words = sentence.split()
    pieces: list[str] = []
    current: list[str] = []
    for word in words:
        if current and count_tokens(" ".join([*current, word])) > limit:
            pieces.append(" ".join(current))
            current = []
        current.append(word)
    if current:
        pieces.append(" ".join(current))
    return pieces


def chunk_text(text: str, config: BaseChunkerConfig) -> list[Chunk]:
    """Cut ``text`` into chunks of at most ``chunk_size`` tokens sharing ``chunk_overlap``.

    Chunks end on sentence boundaries; each chunk after the first starts with the trailing
    sentences of the previous one that fit in ``chunk_overlap`` tokens (at least one sentence
    when the overlap allows it), so a fact cut at a boundary is whole in one of the two.
    A sentence longer than ``chunk_size`` is split on words.
    """
    units: list[tuple[str, int]] = []
    for sentence in _sentences(text):
        n = count_tokens(sentence)
        if n > config.chunk_size:
            units.extend((p, count_tokens(p)) for p in _split_long(sentence, config.chunk_size))
        else:
            units.append((sentence, n))
    chunks: list[Chunk] = []
    start = 0
    while start < len(units):
        end = start
        size = 0
        while end < len(units) and (
            size + units[end][1] <= config.chunk_size
            or end - start < config.min_sentences_per_chunk
        ):
            size += units[end][1]
            end += 1
        if end == start:  # a unit alone exceeds the budget (cannot happen after splitting)
            end = start + 1
        chunks.append(Chunk(len(chunks), " ".join(u for u, _ in units[start:end])))
        if end >= len(units):
            break
        # Walk back from the end to collect the overlap, but always make progress.
        back = end
        overlap = 0
        while back - 1 > start and overlap + units[back - 1][1] <= config.chunk_overlap:
            back -= 1
            overlap += units[back][1]
        start = back
    logger.debug("chunked document into %d chunks", len(chunks))
    return chunks
