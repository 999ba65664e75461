"""The HuggingFace backend on the packaged SmolLM2 (loaded once per process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from memos.configs.llm import HFLLMConfig
from memos.errors import LLMError
from memos.llms.hf import HFLLM
from memos.llms.models import converted_folder_is_current, default_cache_dir, resolve_model_source

QUESTION = [{"role": "user", "content": "Name three colours."}]


@pytest.fixture(scope="module")
def llm() -> HFLLM:
    return HFLLM(HFLLMConfig(max_tokens=12))


def test_packaged_gguf_is_converted_once_to_safetensors(llm: HFLLM) -> None:
    source = resolve_model_source("smollm2-135m-instruct")
    assert source.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    folder = default_cache_dir(source.name)
    assert converted_folder_is_current(source, folder)
    assert (folder / "model.safetensors").is_file()
    # A second backend on the same model reuses the loaded weights (no second load).
    assert HFLLM(HFLLMConfig(max_tokens=3)).model is llm.model


def test_greedy_generation_is_deterministic_and_bounded(llm: HFLLM) -> None:
    first = llm.generate(QUESTION)
    assert first and first == llm.generate(QUESTION)
    assert len(llm.encode(first)) <= 12
    short = llm.generate(QUESTION, max_tokens=2)
    assert len(llm.encode(short)) <= 2 and first.startswith(short.strip()[:1])


def test_stream_yields_the_same_text_as_generate(llm: HFLLM) -> None:
    pieces = list(llm.generate_stream(QUESTION))
    assert len(pieces) > 1
    assert "".join(pieces).strip() == llm.generate(QUESTION).strip()


def test_build_kv_cache_covers_exactly_the_prefix_tokens(llm: HFLLM) -> None:
    encoding = llm.encode_prefix("Ada lives in Paris.")
    assert encoding.messages[0]["role"] == "system"
    assert encoding.text.startswith("<|im_start|>system")
    cache = llm.build_kv_cache("Ada lives in Paris.")
    assert cache.get_seq_length() == len(encoding.token_ids)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("/nonexistent/model-folder", "not found"),
        ("missing-org/missing-model-xyz", "could not be loaded"),
        ("/tmp/definitely-missing.gguf", "not found"),
    ],
)
def test_missing_model_is_a_clear_error(name: str, message: str) -> None:
    with pytest.raises(LLMError, match=message) as info:
        HFLLM(HFLLMConfig(model_name_or_path=name))
    assert name in str(info.value) or name.split("/")[-1] in str(info.value)


def test_folder_without_weights_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LLMError, match=r"no config\.json"):
        HFLLM(HFLLMConfig(model_name_or_path=str(tmp_path)))


def test_unavailable_device_is_refused() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(LLMError, match="CUDA is not available"):
        HFLLM(HFLLMConfig(device="cuda"))
