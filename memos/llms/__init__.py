"""Chat-model backends: HuggingFace transformers (local, with KV caches), OpenAI-compatible
servers, vLLM and Ollama, all behind ``BaseLLM.generate(messages) -> str``."""

from __future__ import annotations

from memos.llms.base import BaseLLM, MessageList
from memos.llms.factory import LLMFactory
from memos.llms.utils import remove_think_prefix

__all__ = ["BaseLLM", "LLMFactory", "MessageList", "remove_think_prefix"]
