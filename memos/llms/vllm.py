"""A vLLM server: OpenAI-compatible chat plus the endpoints prefix caching needs.

Besides chat completions, vLLM serves ``POST /tokenize`` (renders messages with the server's own
chat template and returns the token ids) and Prometheus ``GET /metrics``; both live at the server
root, not under ``/v1``. A ``cache_salt`` request field keeps one tenant's cached prefix blocks
out of reach of another's.
"""

from __future__ import annotations

import math
import re
from typing import Any

from memos.configs.llm import VLLMLLMConfig
from memos.errors import LLMError
from memos.llms.base import MessageList, normalize_messages
from memos.llms.openai import OpenAILLM

PREFIX_CACHE_HITS = "vllm:prefix_cache_hits_total"
PREFIX_CACHE_QUERIES = "vllm:prefix_cache_queries_total"
#: An info metric (value 1) whose labels are the server's cache settings: ``block_size``,
#: ``enable_prefix_caching``, ``num_gpu_blocks``, ...
CACHE_CONFIG_INFO = "vllm:cache_config_info"

# Label values are quoted strings with backslash escapes and may hold "}" (text format 0.0.4).
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_SAMPLE = re.compile(
    rf"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{{(?P<labels>(?:[^\"}}]|{_QUOTED})*)\}})?"
    r"\s+(?P<value>\S+)"
)
_LABEL = re.compile(rf"(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)=(?P<value>{_QUOTED})")


def parse_prometheus(text: str) -> dict[str, float]:
    """Sum every sample of each metric name in Prometheus text format (labels are merged)."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line.strip())
        if match is None:
            continue
        try:
            value = float(match["value"])
        except ValueError:
            continue
        if math.isnan(value):
            continue
        totals[match["name"]] = totals.get(match["name"], 0.0) + value
    return totals


def parse_prometheus_labels(text: str, name: str) -> list[dict[str, str]]:
    """The label sets of every sample of metric ``name`` (for info metrics such as
    ``vllm:cache_config_info``, whose labels carry the data)."""
    found: list[dict[str, str]] = []
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match is None or match["name"] != name:
            continue
        labels = {
            label["key"]: re.sub(r"\\(.)", r"\1", label["value"][1:-1])
            for label in _LABEL.finditer(match["labels"] or "")
        }
        found.append(labels)
    return found


class VLLMLLM(OpenAILLM):
    """Chat with a vLLM server; render, warm and measure prefix-cached prompts."""

    config: VLLMLLMConfig
    server_name = "vLLM server"

    @property
    def server_root(self) -> str:
        """The server URL without the ``/v1`` API prefix."""
        base = self.config.api_base.rstrip("/")
        return base[: -len("/v1")] if base.endswith("/v1") else base

    def request_body(self, messages: MessageList, *, stream: bool, **kwargs: Any) -> dict[str, Any]:
        """Chat request with the configured (or per-call) ``cache_salt``."""
        salt = kwargs.pop("cache_salt", self.config.cache_salt)
        body = super().request_body(messages, stream=stream, **kwargs)
        if salt:
            body["cache_salt"] = salt
        return body

    def tokenize_messages(self, messages: MessageList, *, add_generation_prompt: bool) -> list[int]:
        """Token ids of ``messages`` rendered by the server's own chat template."""
        body = {
            "model": self.config.model_name_or_path,
            "messages": normalize_messages(messages),
            "add_generation_prompt": add_generation_prompt,
        }
        answer = self.client.post_json(f"{self.server_root}/tokenize", body)
        tokens = answer.get("tokens") if isinstance(answer, dict) else None
        if not isinstance(tokens, list):
            raise LLMError(f"vLLM server at {self.server_root} answered /tokenize without tokens")
        return [int(t) for t in tokens]

    def metrics(self) -> dict[str, float]:
        """The server's Prometheus counters, summed over label sets."""
        return parse_prometheus(self.client.get_text(f"{self.server_root}/metrics"))

    def cache_config(self) -> dict[str, str]:
        """The server's cache settings from ``vllm:cache_config_info`` (empty if not exported).

        Real vLLM labels it with ``block_size`` (e.g. ``"32"`` for ``--block-size 32``) and
        ``enable_prefix_caching`` (``"True"`` / ``"False"``), among others.
        """
        text = self.client.get_text(f"{self.server_root}/metrics")
        samples = parse_prometheus_labels(text, CACHE_CONFIG_INFO)
        return samples[0] if samples else {}

    def complete(self, prompt: str, **kwargs: Any) -> dict[str, Any]:
        """``POST /v1/completions`` with a raw prompt (no chat template); the full JSON answer."""
        salt = kwargs.pop("cache_salt", self.config.cache_salt)
        body: dict[str, Any] = {
            "model": self.config.model_name_or_path,
            "prompt": prompt,
            "max_tokens": int(kwargs.pop("max_tokens", self.config.max_tokens)),
            "temperature": float(kwargs.pop("temperature", self.config.temperature)),
        }
        if salt:
            body["cache_salt"] = salt
        body.update(kwargs)
        answer = self.client.post_json("completions", body)
        if not isinstance(answer, dict):
            raise LLMError(f"vLLM server at {self.server_root} answered completions without JSON")
        return answer


def cached_tokens(answer: dict[str, Any]) -> int:
    """``usage.prompt_tokens_details.cached_tokens`` of an answer (0 when not reported)."""
    usage = answer.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    return int(details.get("cached_tokens") or 0)
