"""LoCoMo seen as a user-assistant chat: a stand-in for questions in the user's own words.

Held-out memory benchmarks of the user-assistant shape have speakers ``user`` and
``assistant`` and ask about the user's life in the first person ("What did I buy?"). This view
turns each LoCoMo conversation into that shape without changing a word of evidence: the first
speaker becomes ``user``, the other ``assistant``; only questions about the user (naming the
first speaker and not the other) are kept, rewritten in the first person ("What did Caroline
research?" -> "What did I research?", "Caroline's" -> "my"). Evidence turn ids are unchanged, so
recall is measured exactly as on LoCoMo.

What it does not model: long assistant turns (LoCoMo's turns are short on both sides) and
dozens of sessions per question. It checks that retrieval does not lean on the speaker's name
being in the question, and that a first-person question finds the user's memories.
"""

from __future__ import annotations

import re

from memos.bench.locomo_data import Conversation, Question

__all__ = ["first_person", "user_view"]

USER = "user"
ASSISTANT = "assistant"
# "does Caroline" -> "do I": the auxiliary agrees with the new subject.
_AUX = {"does": "do", "is": "am", "has": "have", "was": "was", "did": "did"}


def first_person(question: str, name: str) -> str:
    """``question`` with ``name`` (the user) replaced by the first person."""
    n = re.escape(name)
    out = re.sub(rf"\b{n}['’`]s\b", "my", question)
    out = re.sub(
        rf"\b(does|is|has|was|did)\s+{n}\b",
        lambda m: f"{_AUX[m.group(1).lower()]} I",
        out,
        flags=re.IGNORECASE,
    )
    out = re.sub(rf"\b{n}\b", "I", out)
    return out


def user_view(conv: Conversation) -> Conversation:
    """``conv`` with speakers ``user`` / ``assistant`` and first-person questions about the user."""
    roles = list(dict.fromkeys(m["role"] for m in conv.messages))
    if len(roles) != 2:
        raise ValueError(f"{conv.sample_id}: expected two speakers, got {roles}")
    user, other = roles
    renamed = {user: USER, other: ASSISTANT}
    messages = [{**m, "role": renamed[m["role"]]} for m in conv.messages]
    questions = []
    for q in conv.questions:
        first_user = user.split()[0]
        first_other = other.split()[0]
        if not re.search(rf"\b{re.escape(first_user)}\b", q.text):
            continue
        if re.search(rf"\b{re.escape(first_other)}\b", q.text):
            continue
        questions.append(Question(first_person(q.text, first_user), q.category, q.evidence))
    return Conversation(conv.sample_id, messages, questions)
