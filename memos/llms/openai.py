"""OpenAI-compatible chat completions (OpenAI, vLLM, llama.cpp server, ...) over httpx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from memos.configs.llm import OpenAILLMConfig
from memos.errors import LLMError
from memos.llms.base import BaseLLM, MessageList, normalize_messages
from memos.llms.http import HTTPChatClient
from memos.llms.utils import strip_think_stream


class OpenAILLM(BaseLLM):
    """``POST {api_base}/chat/completions``; streaming reads Server-Sent Events."""

    config: OpenAILLMConfig
    server_name = "OpenAI-compatible server"

    def __init__(self, config: OpenAILLMConfig) -> None:
        super().__init__(config)
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self.client = HTTPChatClient(
            config.api_base,
            what=self.server_name,
            model=config.model_name_or_path,
            timeout_s=config.timeout_s,
            headers=headers,
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.client.close()

    def request_body(self, messages: MessageList, *, stream: bool, **kwargs: Any) -> dict[str, Any]:
        """The chat-completions request for ``messages`` (``kwargs`` override config fields)."""
        cfg = self.config
        body: dict[str, Any] = {
            "model": cfg.model_name_or_path,
            "messages": normalize_messages(messages),
            "max_tokens": int(kwargs.pop("max_tokens", cfg.max_tokens)),
            "temperature": float(kwargs.pop("temperature", cfg.temperature)),
            "top_p": float(kwargs.pop("top_p", cfg.top_p)),
            "stream": stream,
        }
        body.update(cfg.extra_body)
        body.update(kwargs)
        return body

    def chat_completion(self, messages: MessageList, **kwargs: Any) -> dict[str, Any]:
        """The server's full JSON answer (with ``usage``) for a non-streaming request."""
        answer = self.client.post_json(
            "chat/completions", self.request_body(messages, stream=False, **kwargs)
        )
        if not isinstance(answer, dict) or not answer.get("choices"):
            raise LLMError(f"{self.server_name} at {self.config.api_base} answered without choices")
        return answer

    def generate(self, messages: MessageList, **kwargs: Any) -> str:
        """Answer ``messages``; the text of the first choice."""
        answer = self.chat_completion(messages, **kwargs)
        content = answer["choices"][0].get("message", {}).get("content") or ""
        return self.postprocess(str(content))

    def generate_stream(self, messages: MessageList, **kwargs: Any) -> Iterator[str]:
        """Yield content deltas as the server streams them."""
        body = self.request_body(messages, stream=True, **kwargs)

        def pieces() -> Iterator[str]:
            for event in self.client.stream_sse("chat/completions", body):
                for choice in event.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        yield str(text)

        stream = pieces()
        yield from strip_think_stream(stream) if self.config.remove_think_prefix else stream
