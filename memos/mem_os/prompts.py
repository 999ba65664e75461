"""Chat prompts of MOS: the system message that carries retrieved memories.

Each function returns a new message list; callers' lists are never edited.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

BASE_SYSTEM_PROMPT = (
    "You are a helpful assistant with access to the user's memories. "
    "Answer briefly and use the memories when they are relevant."
)


class ChatContext(BaseModel):
    """What one chat turn is answered from."""

    model_config = ConfigDict(frozen=True)

    query: str
    memories: tuple[str, ...] = ()
    history: tuple[tuple[str, str], ...] = ()


def memory_system_prompt(memories: Sequence[str]) -> str:
    """The system message: instructions plus the memories as a numbered list."""
    if not memories:
        return BASE_SYSTEM_PROMPT
    lines = "\n".join(f"{i}. {text}" for i, text in enumerate(memories, start=1))
    return f"{BASE_SYSTEM_PROMPT}\n\n## Memories\n{lines}"


def chat_messages(context: ChatContext, *, with_system: bool = True) -> list[dict[str, str]]:
    """``[system?, *history, user]`` for one turn.

    ``with_system=False`` leaves the system message out: the KV-cache path already holds the
    memories as its prefix.
    """
    messages: list[dict[str, str]] = []
    if with_system:
        messages.append({"role": "system", "content": memory_system_prompt(context.memories)})
    messages.extend({"role": role, "content": content} for role, content in context.history)
    messages.append({"role": "user", "content": context.query})
    return messages
