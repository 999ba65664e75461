"""LoCoMo as the benchmarks read it: conversations as chat messages, answerable questions.

Shared by the recall suites and the peers (``memos.bench.peers``), so a peer can read the data
without importing a suite.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# Official category ids: 1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop (5 adversarial
# is left out).
CATEGORIES = (1, 2, 3, 4)


def turn_document(message: dict[str, str]) -> str:
    """What the raw-turn baselines index for one turn: ``"<speaker>: <text [+ caption]>"``."""
    return f"{message['role']}: {message['content']}"


@dataclass(frozen=True, slots=True)
class Question:
    """One answerable question and its evidence turn ids."""

    text: str
    category: int
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Conversation:
    """One LoCoMo sample as chat messages plus its questions."""

    sample_id: str
    messages: list[dict[str, str]]
    questions: list[Question]


# A ranked result: for each retrieved memory (best first), the turn ids it cites.
Ranked = list[list[str]]


def load_locomo(path: str | Path, limit: int | None = None) -> list[Conversation]:
    """Read locomo10.json into conversations (turns in session order) and their questions."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    conversations: list[Conversation] = []
    for sample in data[:limit] if limit else data:
        conv = sample["conversation"]
        sessions = sorted(
            (int(key.split("_")[1]), value)
            for key, value in conv.items()
            if key.startswith("session_") and isinstance(value, list)
        )
        messages: list[dict[str, str]] = []
        for number, turns in sessions:
            when = conv.get(f"session_{number}_date_time")
            for turn in turns:
                content = turn["text"]
                if turn.get("blip_caption"):
                    content = f"{content} [shares an image: {turn['blip_caption']}]"
                message = {
                    "role": turn["speaker"],
                    "content": content,
                    "message_id": turn["dia_id"],
                }
                if when:
                    message["chat_time"] = when
                messages.append(message)
        turn_ids = {m["message_id"] for m in messages}
        questions = []
        for qa in sample["qa"]:
            if qa.get("category") not in CATEGORIES:
                continue
            evidence = tuple(dict.fromkeys(e for e in qa.get("evidence", []) if e in turn_ids))
            if evidence:
                questions.append(Question(qa["question"], int(qa["category"]), evidence))
        conversations.append(Conversation(sample["sample_id"], messages, questions))
    return conversations
