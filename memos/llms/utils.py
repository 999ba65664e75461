"""Small text helpers shared by every chat backend."""

from __future__ import annotations

import re
from collections.abc import Iterator

# A reasoning model may open its answer with "<think> ... </think>"; an unterminated block (the
# answer was cut by max_tokens) is stripped too, since everything in it is reasoning.
_THINK_BLOCK = re.compile(r"^\s*<think>.*?(?:</think>|$)", re.DOTALL)


def remove_think_prefix(text: str) -> str:
    """Strip a leading ``<think>...</think>`` block (and the whitespace after it) from ``text``."""
    match = _THINK_BLOCK.match(text)
    if match is None:
        return text
    return text[match.end() :].lstrip()


def strip_think_stream(chunks: Iterator[str]) -> Iterator[str]:
    """Streaming form of :func:`remove_think_prefix`: hold text back only while it may be thinking.

    Pieces are buffered until the stream either shows it does not start with ``<think>`` or the
    closing ``</think>`` arrives; after that, pieces pass through unchanged.
    """
    buffer = ""
    passing = False
    for chunk in chunks:
        if passing:
            yield chunk
            continue
        buffer += chunk
        head = buffer.lstrip()
        if not head:
            continue
        if head.startswith("<think>"):
            end = head.find("</think>")
            if end < 0:
                continue
            rest = head[end + len("</think>") :].lstrip()
            passing = bool(rest)
            buffer = "" if passing else head[: end + len("</think>")]
            if rest:
                yield rest
            continue
        if "<think>".startswith(head):  # could still become "<think>"
            continue
        passing = True
        yield buffer
        buffer = ""
    if not passing and buffer and not buffer.lstrip().startswith("<think>"):
        yield buffer
