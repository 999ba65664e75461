"""Ollama's ``/api/chat`` over httpx; streaming reads newline-delimited JSON."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from memos.configs.llm import OllamaLLMConfig
from memos.llms.base import BaseLLM, MessageList, normalize_messages
from memos.llms.http import HTTPChatClient
from memos.llms.utils import strip_think_stream


class OllamaLLM(BaseLLM):
    """Chat with a model served by Ollama."""

    config: OllamaLLMConfig

    def __init__(self, config: OllamaLLMConfig) -> None:
        super().__init__(config)
        self.client = HTTPChatClient(
            config.api_base,
            what="Ollama server",
            model=config.model_name_or_path,
            timeout_s=config.timeout_s,
            headers={},
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.client.close()

    def _body(self, messages: MessageList, *, stream: bool, **kwargs: Any) -> dict[str, Any]:
        cfg = self.config
        return {
            "model": cfg.model_name_or_path,
            "messages": normalize_messages(messages),
            "stream": stream,
            "options": {
                "temperature": float(kwargs.get("temperature", cfg.temperature)),
                "num_predict": int(kwargs.get("max_tokens", cfg.max_tokens)),
                "top_p": float(kwargs.get("top_p", cfg.top_p)),
                "top_k": int(kwargs.get("top_k", cfg.top_k)),
            },
        }

    def generate(self, messages: MessageList, **kwargs: Any) -> str:
        """Answer ``messages`` with one non-streaming ``/api/chat`` call."""
        answer = self.client.post_json("api/chat", self._body(messages, stream=False, **kwargs))
        content = (
            (answer.get("message") or {}).get("content", "") if isinstance(answer, dict) else ""
        )
        return self.postprocess(str(content))

    def generate_stream(self, messages: MessageList, **kwargs: Any) -> Iterator[str]:
        """Yield message pieces until Ollama reports ``done``."""
        body = self._body(messages, stream=True, **kwargs)

        def pieces() -> Iterator[str]:
            for event in self.client.stream_ndjson("api/chat", body):
                text = (event.get("message") or {}).get("content")
                if text:
                    yield str(text)
                if event.get("done"):
                    return

        stream = pieces()
        yield from strip_think_stream(stream) if self.config.remove_think_prefix else stream
