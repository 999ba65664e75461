"""Benchmark text: LoCoMo sessions and questions, or synthetic ones when the data is absent."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SUBJECTS = ("Ana", "Ben", "Caroline", "Dev", "Elif", "Farid", "Gina", "Hiro")
_ACTS = (
    "adopted a grey cat called Pixel",
    "started learning the cello",
    "ran a half marathon along the river",
    "planted tomatoes in the garden",
    "booked a trip to Lisbon",
    "finished a painting of the harbour",
    "changed jobs to work at a bakery",
    "joined a book club that reads mysteries",
)


@dataclass(frozen=True, slots=True)
class Session:
    """One chat session as MemOS messages (the first speaker is the user, the other the
    assistant: the facade accepts only chat roles)."""

    session_id: str
    messages: list[dict[str, str]]


def load_sessions(path: Path, max_turns: int | None = None) -> tuple[list[Session], str]:
    """LoCoMo sessions up to ``max_turns`` turns, or synthetic ones; and the source.

    The conversations are interleaved: every conversation's first session, then every
    conversation's second, and so on (each conversation's sessions stay in order). A budget of
    turns then covers every conversation, i.e. every user of a multi-user ingest, instead of the
    first few in full; and clients taking the sessions in this order add to different users'
    cubes at once, as the users of an API server do, rather than queueing behind one cube's
    ordering.
    """
    if not path.is_file():
        return synthetic_sessions(max_turns or 2000), "synthetic"
    data = json.loads(path.read_text(encoding="utf-8"))
    per_conversation = [_conversation_sessions(sample) for sample in data]
    sessions: list[Session] = []
    total = 0
    for rank in range(max((len(c) for c in per_conversation), default=0)):
        for conversation in per_conversation:
            if rank >= len(conversation):
                continue
            session = conversation[rank]
            if max_turns is not None and total + len(session.messages) > max_turns:
                session = Session(session.session_id, session.messages[: max_turns - total])
            if session.messages:
                sessions.append(session)
                total += len(session.messages)
            if max_turns is not None and total >= max_turns:
                return sessions, str(path)
    return sessions, str(path)


def _conversation_sessions(sample: dict[str, Any]) -> list[Session]:
    """One LoCoMo sample's sessions in order, as MemOS messages (speaker a is the user)."""
    conv = sample["conversation"]
    numbered = sorted(
        (int(key.split("_")[1]), value)
        for key, value in conv.items()
        if key.startswith("session_") and isinstance(value, list)
    )
    sessions: list[Session] = []
    for number, turns in numbered:
        when = conv.get(f"session_{number}_date_time")
        user = conv.get("speaker_a")
        messages = []
        for turn in turns:
            message = {
                "role": "user" if turn["speaker"] == user else "assistant",
                "content": turn["text"],
            }
            if when:
                message["chat_time"] = when
            messages.append(message)
        if messages:
            sessions.append(Session(f"{sample['sample_id']}-s{number}", messages))
    return sessions


def synthetic_sessions(turns: int, per_session: int = 20, seed: int = 7) -> list[Session]:
    """Chat sessions of short first-person facts, ``per_session`` turns each."""
    rng = random.Random(seed)
    sessions: list[Session] = []
    for start in range(0, turns, per_session):
        messages = []
        for index in range(start, min(turns, start + per_session)):
            text = f"Last week I {rng.choice(_ACTS)}, day {rng.randint(1, 28)} of month {index}."
            messages.append({"role": ("user", "assistant")[index % 2], "content": text})
        sessions.append(Session(f"syn-s{start // per_session}", messages))
    return sessions


def load_questions(path: Path, limit: int) -> list[str]:
    """LoCoMo questions (categories 1-4) or synthetic ones, ``limit`` at most."""
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        questions = [
            str(qa["question"]) for sample in data for qa in sample["qa"] if qa.get("category") != 5
        ]
        return questions[:limit]
    rng = random.Random(11)
    return [f"When did {rng.choice(_SUBJECTS)} say they {rng.choice(_ACTS)}?" for _ in range(limit)]
