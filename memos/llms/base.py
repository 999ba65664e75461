"""The interface every chat backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from memos.configs.llm import BaseLLMConfig
from memos.errors import LLMError
from memos.llms.utils import remove_think_prefix

#: A chat message as MemOS passes it: ``{"role": "user" | "assistant" | "system", "content": str}``.
Message = Mapping[str, Any]
MessageList = Sequence[Message]

_ROLES = frozenset({"system", "user", "assistant", "tool"})


def normalize_messages(messages: MessageList) -> list[dict[str, str]]:
    """Validate chat messages and return plain ``{"role", "content"}`` dicts (a new list).

    Raises:
        LLMError: when a message has no known role or its content is not a string.
    """
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        raise LLMError("messages must be a list of {'role': ..., 'content': ...} dicts")
    result: list[dict[str, str]] = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise LLMError(f"message {index} is {type(message).__name__}, expected a dict")
        role, content = message.get("role"), message.get("content")
        if role not in _ROLES:
            raise LLMError(f"message {index} has role {role!r}; expected one of {sorted(_ROLES)}")
        if not isinstance(content, str):
            raise LLMError(f"message {index} content must be a string")
        result.append({"role": str(role), "content": content})
    return result


class BaseLLM(ABC):
    """A chat model: ``generate(messages) -> str`` and, where the backend can, streaming."""

    config: BaseLLMConfig

    def __init__(self, config: BaseLLMConfig) -> None:
        self.config = config

    @abstractmethod
    def generate(self, messages: MessageList, **kwargs: Any) -> str:
        """Answer the conversation ``messages`` and return the assistant's text."""

    def generate_stream(self, messages: MessageList, **kwargs: Any) -> Iterator[str]:
        """Yield the answer in pieces as the backend produces them.

        The default yields the whole answer at once, for backends without streaming.
        """
        yield self.generate(messages, **kwargs)

    def postprocess(self, text: str) -> str:
        """Apply the configured output clean-up (``remove_think_prefix``)."""
        return remove_think_prefix(text) if self.config.remove_think_prefix else text
