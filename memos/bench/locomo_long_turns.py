"""LoCoMo as a long user-assistant history: the answer turn is one long message among many.

A stand-in for held-out benchmarks of the user-assistant shape whose assistant turns are long
and whose history holds dozens of sessions, most of them unrelated to the question (their
haystacks are other people's chats). Built from :func:`~memos.bench.locomo_user_view.user_view`
(speakers ``user`` / ``assistant``, first-person questions about the user) in two steps that
add only real conversational text and never change a word or an id of the evidence:

* **haystack sessions**: the sessions of another conversation of the same split (the next one,
  cyclically), renamed the same way and interleaved with the conversation's own (own session 1,
  other session 1, own session 2, ...), under ids (``H<sample>-D1:3``) that no question cites:
  about twice the sessions, and a second "user" whose life the questions are not about;
* **long assistant turns**: every assistant message (own and haystack) gets the text of the
  next :data:`FILLER_TURNS` assistant turns of a third conversation appended, so the message
  keeps its id but is several times longer: evidence spoken by the assistant sits inside a
  long message, and the user's short turns sit among long ones (what BM25's length
  normalisation and a single vector per message see).

Evidence turn ids are unchanged, so recall is measured exactly as on LoCoMo. It needs at least
three conversations (own, haystack and filler must differ). What it does not model: the real
benchmarks' topics (assistant answers about code, recipes, travel ...) and their question
wording; it checks the shape, not the content.
"""

from __future__ import annotations

from memos.bench.locomo_data import Conversation
from memos.bench.locomo_user_view import ASSISTANT, user_view

__all__ = ["FILLER_TURNS", "long_turn_view"]

#: Assistant turns of the filler conversation appended to each assistant message.
FILLER_TURNS = 4


def _session(message: dict[str, str]) -> str:
    return message["message_id"].split(":", 1)[0]


def _sessions(conv: Conversation) -> list[list[dict[str, str]]]:
    grouped: dict[str, list[dict[str, str]]] = {}
    for message in conv.messages:
        grouped.setdefault(_session(message), []).append(message)
    return list(grouped.values())


def _haystack(donor: Conversation) -> list[list[dict[str, str]]]:
    """The donor's sessions as user/assistant messages under ids no question cites."""
    renamed = user_view(donor)
    return [
        [{**m, "message_id": f"H{donor.sample_id}-{m['message_id']}"} for m in session]
        for session in _sessions(renamed)
    ]


def _filler_texts(donor: Conversation) -> list[str]:
    texts = [m["content"] for m in user_view(donor).messages if m["role"] == ASSISTANT]
    if not texts:
        raise ValueError(f"{donor.sample_id}: no assistant turns to use as filler")
    return texts


def long_turn_view(conversations: list[Conversation]) -> list[Conversation]:
    """Each conversation as a long user-assistant history (see the module doc).

    Conversation ``i`` takes its haystack sessions from conversation ``i + 1`` and its filler
    from ``i + 2`` (cyclically), so every donor belongs to the same list (the same split).
    """
    if len(conversations) < 3:
        raise ValueError(
            "the long-turn view needs at least 3 conversations (own, haystack, filler)"
        )
    out = []
    n = len(conversations)
    for i, conv in enumerate(conversations):
        own = user_view(conv)
        haystack = _haystack(conversations[(i + 1) % n])
        filler = _filler_texts(conversations[(i + 2) % n])
        sessions: list[list[dict[str, str]]] = []
        for k, session in enumerate(_sessions(own)):
            sessions.append(session)
            if k < len(haystack):
                sessions.append(haystack[k])
        sessions.extend(haystack[len(_sessions(own)) :])
        messages = []
        cursor = 0
        for session in sessions:
            for message in session:
                if message["role"] == ASSISTANT:
                    extra = [filler[(cursor + j) % len(filler)] for j in range(FILLER_TURNS)]
                    cursor += FILLER_TURNS
                    message = {**message, "content": " ".join([message["content"], *extra])}
                messages.append(message)
        out.append(Conversation(own.sample_id, messages, own.questions))
    return out
