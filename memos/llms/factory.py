"""``LLMFactory.from_config(LLMConfigFactory)``: build the chat backend a config names."""

from __future__ import annotations

from typing import ClassVar

from memos.configs.llm import (
    HFLLMConfig,
    LLMConfigFactory,
    OllamaLLMConfig,
    OpenAILLMConfig,
    VLLMLLMConfig,
)
from memos.errors import ConfigError
from memos.llms.base import BaseLLM


class LLMFactory:
    """Maps a backend name to its class (the MemOS factory shape)."""

    backend_to_class: ClassVar[dict[str, str]] = {
        "huggingface": "memos.llms.hf:HFLLM",
        "openai": "memos.llms.openai:OpenAILLM",
        "vllm": "memos.llms.vllm:VLLMLLM",
        "ollama": "memos.llms.ollama:OllamaLLM",
    }

    @classmethod
    def from_config(cls, config_factory: LLMConfigFactory) -> BaseLLM:
        """Instantiate the backend; torch is imported only when the HF backend is chosen."""
        backend = config_factory.backend
        config = config_factory.config
        if backend == "huggingface" and isinstance(config, HFLLMConfig):
            from memos.llms.hf import HFLLM

            return HFLLM(config)
        if backend == "vllm" and isinstance(config, VLLMLLMConfig):
            from memos.llms.vllm import VLLMLLM

            return VLLMLLM(config)
        if backend == "openai" and isinstance(config, OpenAILLMConfig):
            from memos.llms.openai import OpenAILLM

            return OpenAILLM(config)
        if backend == "ollama" and isinstance(config, OllamaLLMConfig):
            from memos.llms.ollama import OllamaLLM

            return OllamaLLM(config)
        known = ", ".join(sorted(cls.backend_to_class))
        raise ConfigError(f"unknown LLM backend {backend!r}; known backends: {known}")
