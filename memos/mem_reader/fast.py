"""Rule-based ("fast") extraction: no LLM, one memory per substantive chat message.

Why one memory per message: evidence in conversational QA sits in single turns, so a memory
that cites exactly one turn keeps retrieval precise, while the speaker's name, resolved dates
and a quote of the turn being answered put into the text the words a later question uses.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from memos.mem_reader.chunking import Chunk
from memos.mem_reader.dates import format_date, resolve_relative_dates
from memos.mem_reader.messages import TimedMessage
from memos.memories.textual.entities import memory_entities
from memos.memories.textual.item import (
    EmbeddingPart,
    MemoryType,
    SourceMessage,
    TextualMemoryItem,
    TreeNodeTextualMemoryMetadata,
)
from memos.memories.textual.retrieval import keywords

__all__ = ["CompositeWeights", "FastChatOptions", "fast_chat_memories", "fast_doc_memories"]

FAST_CONFIDENCE = 90.0
_MAX_TAGS = 6
_KEY_WORDS = 5
_QUOTE_CHARS = 160
_BACKGROUND_CHARS = 200
_FIRST_PERSON_RE = re.compile(r"\b(?:i|i'm|i've|i'd|i'll|me|my|mine|myself)\b", re.IGNORECASE)
# Acknowledgement words that, with stopwords, make up back-channel messages ("lol ok").
_BACKCHANNEL_WORDS = frozenset(
    [
        "lol",
        "lmao",
        "haha",
        "hahaha",
        "hehe",
        "hmm",
        "hm",
        "wow",
        "cool",
        "nice",
        "thanks",
        "thank",
        "thx",
        "sure",
        "great",
        "yep",
        "yup",
        "omg",
        "awesome",
        "right",
        "true",
        "totally",
        "indeed",
        "agreed",
        "exactly",
        "absolutely",
        "np",
        "ty",
        "bye",
        "hi",
        "hey",
        "hello",
    ]
)
# Roles whose first-person statements are about the user of the memory system.
_USER_ROLES = frozenset({"user", "human"})


@dataclass(frozen=True, slots=True)
class CompositeWeights:
    """Weights of a composite vector's parts (``embedding_mode="composite"``)."""

    # Chosen on LoCoMo conversations 1-5 (BENCHMARKS.md, "Composite vectors").
    turn: float = 1.0
    header: float = 0.7
    context: float = 0.35
    # A context turn longer than this many words weighs ``context * ref / words`` (0: every
    # context turn weighs ``context``): a long previous turn (an assistant's answer) is mostly
    # unrelated to the reply that follows it, yet its unit vector counted as much as a short one.
    # Off: on the long-turn view of LoCoMo's training half 40 words lowered R@10 and 100 was
    # within noise (BENCHMARKS.md, issue 17 round 7).
    context_ref_words: int = 0

    def context_weight(self, text: str) -> float:
        """The weight of a context part with this ``text``."""
        if self.context_ref_words <= 0:
            return self.context
        words = len(text.split())
        return self.context * min(1.0, self.context_ref_words / words) if words else self.context


@dataclass(frozen=True, slots=True)
class FastChatOptions:
    """Knobs of the fast chat reader (from ``SimpleStructMemReaderConfig``)."""

    context_turns: int = 2
    context_turns_after: int = 0
    # The vector's text quotes fewer and shorter previous turns than the memory's text (which
    # keyword search reads): embedding is most of an add's cost, about linear in tokens.
    embed_context_turns: int = 1
    embed_quote_chars: int = 60
    # "text": the vector embeds one text; "composite": it combines the vectors of the turn,
    # a header and the context turns (memos.memories.textual.composite), about one raw
    # turn's embedding per memory since headers and turns are shared between memories.
    embedding_mode: Literal["text", "composite"] = "composite"
    composite_weights: CompositeWeights = field(default_factory=CompositeWeights)
    backchannel_max_words: int = 2
    user_id: str | None = None
    session_id: str | None = None


@dataclass(slots=True)
class _Draft:
    """A memory under construction: its main message plus folded back-channel messages."""

    main: TimedMessage
    index: int
    folded: list[TimedMessage] = field(default_factory=list)


def _is_backchannel(message: TimedMessage, max_words: int) -> bool:
    """Short acknowledgements ("ok", "lol", "haha thanks") carry no retrievable fact."""
    if max_words <= 0:
        return False
    words = message.content.split()
    if len(words) > max_words:
        return False
    return all(w in _BACKCHANNEL_WORDS for w in keywords(message.content))


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _memory_type(message: TimedMessage) -> MemoryType:
    if message.role.lower() in _USER_ROLES and _FIRST_PERSON_RE.search(message.content):
        return "UserMemory"
    return "LongTermMemory"


def _speaker(role: str) -> str:
    return role if role.lower() not in _USER_ROLES else "The user"


def _render(
    draft: _Draft,
    previous: list[TimedMessage],
    following: list[TimedMessage],
    options: FastChatOptions,
) -> tuple[str, str, tuple[str, ...]]:
    """The memory text: '<speaker> said on <date>: <text with dates resolved>' + context; the
    text its vector is computed from (the same, quoting only the nearest
    ``embed_context_turns`` previous turns, clipped to ``embed_quote_chars``); resolved dates."""
    message = draft.main
    text, resolved = _resolved(message)
    body = f"{_header(message)}: {text}"
    for extra in draft.folded:
        body += f" {_speaker(extra.role)}: {extra.content}"
    embedded = _embedded_context(previous, options)
    answers = [f'{_speaker(f.role)}: "{_clip(f.content, _QUOTE_CHARS)}"' for f in following]
    tail = " (followed by " + "; ".join(answers) + ")" if answers else ""
    return (
        body + _replying(previous, _QUOTE_CHARS) + tail,
        body + _replying(embedded, options.embed_quote_chars) + tail,
        resolved,
    )


def _embedded_context(previous: list[TimedMessage], options: FastChatOptions) -> list[TimedMessage]:
    """The nearest ``embed_context_turns`` previous turns: the context a memory's vector sees."""
    if options.embed_context_turns <= 0:
        return []
    return previous[max(0, len(previous) - options.embed_context_turns) :]


# A turn is resolved up to three times per event in composite mode (its memory's text, its
# turn part, the next memory's context part); the rules run once. Bounded: one event's turns.
@functools.lru_cache(maxsize=1024)
def _resolved(message: TimedMessage) -> tuple[str, tuple[str, ...]]:
    """A turn's text with its relative dates resolved, and the dates (none without a time)."""
    if message.time is None:
        return message.content, ()
    text, dates = resolve_relative_dates(message.content, message.time)
    return text, tuple(dates)


def _turn_text(message: TimedMessage) -> str:
    """A turn's text with its relative dates resolved: the same string whether the turn is a
    memory's own or the context of the next one (so its vector is computed once)."""
    return _resolved(message)[0]


def _header(message: TimedMessage) -> str:
    when = f" on {format_date(message.time)}" if message.time is not None else ""
    return f"{_speaker(message.role)} said{when}"


def _parts(
    draft: _Draft,
    previous: list[TimedMessage],
    following: list[TimedMessage],
    options: FastChatOptions,
) -> list[EmbeddingPart]:
    """A composite vector's parts: the turn, its header, the nearest ``embed_context_turns``
    previous turns and the following turns quoted in the text, each a turn's whole text
    (unclipped, so that it equals that turn's own part). Folded back-channels are left out:
    they carry no retrievable fact."""
    weights = options.composite_weights
    parts = [
        EmbeddingPart(text=_turn_text(draft.main), weight=weights.turn),
        EmbeddingPart(text=_header(draft.main), weight=weights.header),
    ]
    for turn in (*_embedded_context(previous, options), *following):
        text = _turn_text(turn)
        parts.append(EmbeddingPart(text=text, weight=weights.context_weight(text)))
    return parts


def _replying(previous: list[TimedMessage], chars: int) -> str:
    quotes = [f'{_speaker(p.role)}: "{_clip(p.content, chars)}"' for p in previous]
    return " (replying to " + "; ".join(quotes) + ")" if quotes else ""


def _tags(message: TimedMessage) -> list[str]:
    speaker = message.role.lower()
    return [w for w in keywords(message.content) if w != speaker][:_MAX_TAGS]


def _key(message: TimedMessage) -> str:
    words = [w for w in keywords(message.content) if w != message.role.lower()][:_KEY_WORDS]
    topic = " ".join(words) if words else _clip(message.content, 40)
    return f"{_speaker(message.role)}: {topic}"


def _drafts(messages: list[TimedMessage], max_words: int) -> list[_Draft]:
    """Group messages: each substantive message leads a draft; back-channels fold into one."""
    drafts: list[_Draft] = []
    pending: list[TimedMessage] = []  # back-channels before the first substantive message
    for index, message in enumerate(messages):
        if _is_backchannel(message, max_words):
            if drafts:
                drafts[-1].folded.append(message)
            else:
                pending.append(message)
            continue
        drafts.append(_Draft(main=message, index=index, folded=pending))
        pending = []
    if pending:
        # A conversation of back-channels only: keep them, the first leading the memory.
        drafts.append(_Draft(main=pending[0], index=0, folded=pending[1:]))
    return drafts


def fast_chat_memories(
    messages: list[TimedMessage], options: FastChatOptions
) -> list[TextualMemoryItem]:
    """Turn one validated conversation into memories, one per substantive message.

    Every message's id appears in exactly one memory's ``sources`` (folded back-channels
    are cited by the memory they joined).
    """
    items: list[TextualMemoryItem] = []
    for draft in _drafts(messages, options.backchannel_max_words):
        lo = max(0, draft.index - options.context_turns)
        previous = [
            m
            for m in messages[lo : draft.index]
            if not _is_backchannel(m, options.backchannel_max_words)
        ]
        following = [
            m
            for m in messages[draft.index + 1 : draft.index + 1 + 2 * options.context_turns_after]
            if not _is_backchannel(m, options.backchannel_max_words)
        ][: options.context_turns_after]
        memory, embedding_text, resolved = _render(draft, previous, following, options)
        before = messages[draft.index - 1] if draft.index > 0 else None
        after = messages[draft.index + 1] if draft.index + 1 < len(messages) else None
        background = " | ".join(
            f"{m.role}: {_clip(m.content, _BACKGROUND_CHARS)}" for m in (before, after) if m
        )
        sources: list[SourceMessage] = [m.source() for m in (draft.main, *draft.folded)]
        main = draft.main
        meta: dict[str, Any] = {
            "memory_type": _memory_type(main),
            "key": _key(main),
            "tags": _tags(main),
            # Speaker and the names the message itself mentions (not the quoted context): the
            # cube index's entity postings, used by search's speaker and entity signals.
            "entities": memory_entities(main.role, main.content),
            "sources": sources,
            "background": background,
            "confidence": FAST_CONFIDENCE,
            "user_id": options.user_id,
            "session_id": options.session_id,
            "type": "fact",
            "source": "conversation",
            "valid_at": main.time.isoformat() if main.time is not None else None,
            "memory_time": resolved[0] if resolved else None,
            "embedding_text": embedding_text if embedding_text != memory else None,
        }
        if options.embedding_mode == "composite":
            meta["embedding_text"] = None
            meta["embedding_parts"] = _parts(draft, previous, following, options)
        items.append(
            TextualMemoryItem(
                memory=memory, metadata=TreeNodeTextualMemoryMetadata.model_validate(meta)
            )
        )
    return items


def fast_doc_memories(
    doc_path: str,
    chunks: list[Chunk],
    *,
    user_id: str | None,
    session_id: str | None,
) -> list[TextualMemoryItem]:
    """One memory per document chunk, citing the document and the chunk text."""
    items: list[TextualMemoryItem] = []
    for chunk in chunks:
        words = keywords(chunk.text)
        meta = TreeNodeTextualMemoryMetadata(
            memory_type="LongTermMemory",
            key=" ".join(words[:_KEY_WORDS]) or _clip(chunk.text, 40),
            tags=words[:_MAX_TAGS],
            sources=[SourceMessage(type="doc", doc_path=doc_path, content=chunk.text)],
            background=f"chunk {chunk.index + 1} of {len(chunks)} of {doc_path}",
            confidence=FAST_CONFIDENCE,
            user_id=user_id,
            session_id=session_id,
            type="fact",
            source="file",
        )
        items.append(TextualMemoryItem(memory=chunk.text, metadata=meta))
    return items
