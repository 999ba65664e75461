"""HuggingFace transformers chat backend, with the KV-cache operations activation memory needs.

Each model is loaded once per process (keyed by its folder and device) and shared by every
``HFLLM`` built on it. Everything runs under ``torch.no_grad``; greedy decoding is used when
``do_sample`` is false or the temperature is 0, so answers are reproducible.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memos.configs.llm import HFLLMConfig
from memos.errors import LLMError
from memos.llms.attention import use_cpu_gqa_attention
from memos.llms.base import BaseLLM, MessageList, normalize_messages
from memos.llms.kv import common_prefix_length, new_cache
from memos.llms.models import ModelSource, ensure_converted, resolve_model_source
from memos.llms.utils import strip_think_stream

if TYPE_CHECKING:
    import torch
    from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

#: MemOS renders a plain-text memory as this system message before building its KV cache.
MEMORY_PROMPT_HEADER = "Below is some information about the user.\n"

TextOrMessages = str | Sequence[str] | MessageList


@dataclass
class LoadedModel:
    """A model and tokenizer loaded once per process, with their identities."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    model_id: str
    device: str
    _fingerprints: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def cache_argument(self) -> str:
        """``cache`` where the model's forward accepts it, else ``past_key_values``."""
        if "cache_argument" not in self._fingerprints:
            import inspect

            params = inspect.signature(self.model.forward).parameters
            self._fingerprints["cache_argument"] = (
                "cache" if "cache" in params else "past_key_values"
            )
        return self._fingerprints["cache_argument"]

    @property
    def tokenizer_fingerprint(self) -> str:
        """sha256 of the vocabulary, added tokens and chat template: equal iff token ids agree."""
        if "tokenizer" not in self._fingerprints:
            tok = self.tokenizer
            payload = {
                "vocab": sorted(tok.get_vocab().items()),
                "special": sorted(str(t) for t in tok.all_special_tokens),
                "chat_template": getattr(tok, "chat_template", None),
            }
            blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")
            self._fingerprints["tokenizer"] = hashlib.sha256(blob).hexdigest()
        return self._fingerprints["tokenizer"]

    @property
    def model_fingerprint(self) -> str:
        """sha256 of the architecture config and one attention weight: equal iff caches agree.

        A full weight hash would cost seconds; the first layer's key projection already differs
        between any two trained models, and the config pins every cache dimension.
        """
        if "model" not in self._fingerprints:
            import torch

            digest = hashlib.sha256(self.model.config.to_json_string(use_diff=False).encode())
            for name, tensor in self.model.named_parameters():
                if name.endswith("k_proj.weight"):
                    digest.update(tensor.detach().to("cpu", torch.float32).numpy().tobytes())
                    break
            self._fingerprints["model"] = digest.hexdigest()
        return self._fingerprints["model"]


_MODELS: dict[tuple[str, str], LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def _check_device(device: str) -> None:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LLMError(f"device {device!r} requested but CUDA is not available here")


def load_model(config: HFLLMConfig) -> LoadedModel:
    """Load (or reuse) the model and tokenizer named by ``config``; raise a clear LLMError."""
    import torch

    _check_device(config.device)
    source = resolve_model_source(config.model_name_or_path)
    cache_dir = Path(config.cache_dir).expanduser() if config.cache_dir else None
    key = (str(source.folder or source.hub_name), config.device)
    with _MODELS_LOCK:
        loaded = _MODELS.get(key)
        if loaded is not None:
            return loaded
        torch.set_num_threads(config.num_threads)
        folder = ensure_converted(source, cache_dir)
        loaded = _load(source, folder, config.device)
        _MODELS[key] = loaded
        return loaded


def _load(source: ModelSource, folder: Path | None, device: str) -> LoadedModel:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where = str(folder) if folder is not None else str(source.hub_name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            where, dtype=torch.float32, local_files_only=True
        )
    except (OSError, ValueError) as exc:
        raise LLMError(
            f"model {source.name!r} could not be loaded from {where}: {exc}. Use a local folder, "
            "a .gguf file, a name already in the HuggingFace cache, or 'smollm2-135m-instruct'"
        ) from exc
    model.to(device)  # type: ignore[arg-type]
    model.eval()  # type: ignore[no-untyped-call]
    use_cpu_gqa_attention(model)
    logger.info("loaded chat model %s on %s", source.name, device)
    return LoadedModel(model=model, tokenizer=tokenizer, model_id=source.name, device=device)


@dataclass(frozen=True)
class PrefixEncoding:
    """A memory prefix as the model sees it: the messages, their rendering and token ids."""

    messages: list[dict[str, str]]
    text: str
    token_ids: list[int]


class HFLLM(BaseLLM):
    """Chat with a local transformers model; build and reuse KV caches of memory prefixes."""

    config: HFLLMConfig

    def __init__(self, config: HFLLMConfig) -> None:
        super().__init__(config)
        self._loaded = load_model(config)

    # -- identity -------------------------------------------------------------------------------
    @property
    def model(self) -> PreTrainedModel:
        """The loaded transformers model (shared per process)."""
        return self._loaded.model

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """The model's tokenizer."""
        return self._loaded.tokenizer

    @property
    def model_id(self) -> str:
        """The model's short name (packaged name, GGUF stem, folder or hub name)."""
        return self._loaded.model_id

    @property
    def device(self) -> str:
        """Where the model runs (``cpu``, ``cuda``, ...)."""
        return self._loaded.device

    @property
    def model_fingerprint(self) -> str:
        """Identity of the weights and architecture (see :class:`LoadedModel`)."""
        return self._loaded.model_fingerprint

    @property
    def tokenizer_fingerprint(self) -> str:
        """Identity of the tokenizer (see :class:`LoadedModel`)."""
        return self._loaded.tokenizer_fingerprint

    # -- prompts --------------------------------------------------------------------------------
    def render(self, messages: MessageList, *, add_generation_prompt: bool | None = None) -> str:
        """Render messages with the model's chat template."""
        gen = (
            self.config.add_generation_prompt
            if add_generation_prompt is None
            else add_generation_prompt
        )
        try:
            text = self.tokenizer.apply_chat_template(
                normalize_messages(messages), tokenize=False, add_generation_prompt=gen
            )
        except (ValueError, TypeError) as exc:
            raise LLMError(f"model {self.model_id!r} cannot render these messages: {exc}") from exc
        return str(text)

    def encode(self, text: str) -> list[int]:
        """Token ids of already-rendered text (the chat template adds the special tokens)."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return [int(i) for i in ids]

    def prefix_messages(self, text_or_messages: TextOrMessages) -> list[dict[str, str]]:
        """The messages a memory prefix consists of, following MemOS's ``build_kv_cache``.

        A string becomes one system message (``MEMORY_PROMPT_HEADER`` + text); a list of strings
        is joined by newlines first; chat messages are used as they are.
        """
        if isinstance(text_or_messages, str):
            return [{"role": "system", "content": MEMORY_PROMPT_HEADER + text_or_messages}]
        items = list(text_or_messages)
        if items and all(isinstance(item, str) for item in items):
            joined = "\n".join(str(item) for item in items)
            return [{"role": "system", "content": MEMORY_PROMPT_HEADER + joined}]
        return normalize_messages(items)  # type: ignore[arg-type]

    def encode_prefix(self, text_or_messages: TextOrMessages) -> PrefixEncoding:
        """Render a memory prefix (no generation prompt: a conversation follows it)."""
        messages = self.prefix_messages(text_or_messages)
        if not messages:
            raise LLMError("a memory prefix needs at least one message or some text")
        text = self.render(messages, add_generation_prompt=False)
        return PrefixEncoding(messages=messages, text=text, token_ids=self.encode(text))

    def _cache_kw(self, cache: DynamicCache | None) -> dict[str, Any]:
        """The cache argument under the name this transformers version reads.

        transformers 5.2x takes ``cache=`` (``past_key_values=`` deprecated); earlier 5.x
        releases take only ``past_key_values=`` and silently ignore ``cache=``.
        """
        if cache is None:
            return {}
        return {self._loaded.cache_argument: cache}

    def _ids_tensor(self, token_ids: Sequence[int]) -> torch.Tensor:
        import torch

        return torch.tensor([list(token_ids)], dtype=torch.long, device=self.device)

    # -- KV caches ------------------------------------------------------------------------------
    def prefill(self, token_ids: Sequence[int], cache: DynamicCache | None = None) -> DynamicCache:
        """Run ``token_ids`` through the model on top of ``cache`` (extended in place); return it.

        Prefilling on top of an existing cache is exact: the new tokens attend to every cached
        one, which is what a single joint forward pass computes.
        """
        import torch

        if not token_ids:
            raise LLMError("cannot prefill an empty token sequence")
        target = cache if cache is not None else new_cache(self.model)
        with torch.no_grad():
            self.model(
                input_ids=self._ids_tensor(token_ids), use_cache=True, **self._cache_kw(target)
            )
        return target

    def build_kv_cache(self, text_or_messages: TextOrMessages) -> DynamicCache:
        """The KV cache of a memory prefix (see :meth:`prefix_messages` for accepted inputs)."""
        return self.prefill(self.encode_prefix(text_or_messages).token_ids)

    def next_token_logits(
        self, token_ids: Sequence[int], cache: DynamicCache | None = None, prefix_length: int = 0
    ) -> torch.Tensor:
        """Logits for every position of ``token_ids[prefix_length:]`` given a cache of the prefix.

        With ``cache=None`` the whole sequence is computed and the prefix positions are dropped,
        which is the reference a cached computation must reproduce.
        """
        import torch

        from memos.llms.kv_room import cache_view

        with torch.no_grad():
            if cache is None:
                logits = self.model(input_ids=self._ids_tensor(token_ids)).logits
                result: torch.Tensor = logits[0, prefix_length:].float().cpu()
                return result
            view = cache_view(cache, prefix_length)
            tail = self._ids_tensor(token_ids[prefix_length:])
            cached: torch.Tensor = self.model(
                input_ids=tail, use_cache=True, **self._cache_kw(view)
            ).logits
            return cached[0].float().cpu()

    def last_token_logits(
        self, token_ids: Sequence[int], cache: DynamicCache | None = None, reuse: int = 0
    ) -> torch.Tensor:
        """Logits of the next token after ``token_ids`` (what the first generated token needs).

        The first ``reuse`` positions are taken from ``cache`` (not modified); only the rest is
        computed, and only the last position goes through the output head, as in generation.
        """
        import torch

        from memos.llms.kv_room import generation_view

        with torch.no_grad():
            if cache is None or reuse <= 0:
                out = self.model(
                    input_ids=self._ids_tensor(token_ids), use_cache=False, logits_to_keep=1
                )
            else:
                with generation_view(cache, reuse) as view:
                    out = self.model(
                        input_ids=self._ids_tensor(token_ids[reuse:]),
                        use_cache=True,
                        **self._cache_kw(view),
                        logits_to_keep=1,
                    )
        logits: torch.Tensor = out.logits
        return logits[0, -1].float().cpu()

    # -- generation -----------------------------------------------------------------------------
    def _generation_kwargs(self, **overrides: Any) -> dict[str, Any]:
        cfg = self.config
        max_tokens = int(overrides.get("max_tokens", cfg.max_tokens))
        temperature = float(overrides.get("temperature", cfg.temperature))
        do_sample = bool(overrides.get("do_sample", cfg.do_sample)) and temperature > 0
        gen = copy.deepcopy(self.model.generation_config)
        gen.max_new_tokens = max_tokens
        gen.max_length = None
        gen.do_sample = do_sample
        if do_sample:
            gen.temperature = temperature
            gen.top_p = float(overrides.get("top_p", cfg.top_p))
            gen.top_k = int(overrides.get("top_k", cfg.top_k))
        else:
            gen.temperature = gen.top_p = gen.top_k = None
        if gen.pad_token_id is None:
            gen.pad_token_id = self.tokenizer.pad_token_id or self.tokenizer.eos_token_id
        return {"generation_config": gen}

    def _generate_ids(
        self, prompt_ids: Sequence[int], cache: DynamicCache | None, **overrides: Any
    ) -> list[int]:
        import torch

        input_ids = self._ids_tensor(prompt_ids)
        kwargs = self._generation_kwargs(**overrides)
        if cache is not None:
            kwargs.update(self._cache_kw(cache))
        with self._loaded.lock, torch.no_grad():
            output = self.model.generate(  # type: ignore[operator]
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **kwargs
            )
        return [int(i) for i in output[0, len(prompt_ids) :].tolist()]

    def _decode(self, ids: Sequence[int]) -> str:
        return self.postprocess(str(self.tokenizer.decode(list(ids), skip_special_tokens=True)))

    def generate(self, messages: MessageList, **kwargs: Any) -> str:
        """Answer ``messages`` (chat template, ``max_tokens``, greedy unless sampling is on)."""
        prompt_ids = self.encode(self.render(messages, add_generation_prompt=True))
        return self._decode(self._generate_ids(prompt_ids, None, **kwargs))

    def generate_with_cache(
        self,
        messages: MessageList,
        cache: DynamicCache,
        prefix_token_ids: Sequence[int],
        **kwargs: Any,
    ) -> str:
        """Answer ``messages`` reusing ``cache``, the KV cache of ``prefix_token_ids``.

        ``messages`` is the whole conversation, prefix messages included, so the answer is the
        one :meth:`generate` gives for it. Only the longest common prefix of the cached tokens and
        the rendered prompt is reused (at least one prompt token is always left to compute), so
        the result stays exact even if the template renders the prefix differently in context.
        ``cache`` itself is never modified.
        """
        prompt_ids = self.encode(self.render(messages, add_generation_prompt=True))
        if cache.get_seq_length() != len(prefix_token_ids):
            raise LLMError(
                f"cache holds {cache.get_seq_length()} tokens but the prefix has "
                f"{len(prefix_token_ids)}; they do not belong together"
            )
        reuse = min(common_prefix_length(prefix_token_ids, prompt_ids), len(prompt_ids) - 1)
        if reuse < len(prefix_token_ids):
            logger.warning(
                "prompt shares %d of %d cached prefix tokens; recomputing the rest",
                reuse,
                len(prefix_token_ids),
            )
        if reuse <= 0:
            return self._decode(self._generate_ids(prompt_ids, None, **kwargs))
        from memos.llms.kv_room import generation_view

        with generation_view(cache, reuse) as view:
            return self._decode(self._generate_ids(prompt_ids, view, **kwargs))

    def generate_stream(self, messages: MessageList, **kwargs: Any) -> Iterator[str]:
        """Yield the answer as it is decoded (a background thread runs ``generate``)."""
        import torch
        from transformers import TextIteratorStreamer

        prompt_ids = self.encode(self.render(messages, add_generation_prompt=True))
        input_ids = self._ids_tensor(prompt_ids)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        gen_kwargs = self._generation_kwargs(**kwargs)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with self._loaded.lock, torch.no_grad():
                    self.model.generate(  # type: ignore[operator]
                        input_ids=input_ids,
                        attention_mask=torch.ones_like(input_ids),
                        streamer=streamer,
                        **gen_kwargs,
                    )
            except BaseException as exc:  # re-raised in the consumer's thread below
                errors.append(exc)
                streamer.end()  # type: ignore[no-untyped-call]

        worker = threading.Thread(target=run, name="hf-generate-stream", daemon=True)
        worker.start()
        pieces: Iterator[str] = (piece for piece in streamer if piece)
        if self.config.remove_think_prefix:
            pieces = strip_think_stream(pieces)
        yield from pieces
        worker.join()
        if errors:
            raise LLMError(
                f"model {self.model_id!r} failed while streaming: {errors[0]}"
            ) from errors[0]
