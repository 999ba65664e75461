"""SenTranEmbedder on the real packaged all-MiniLM-L6-v2 (loaded once per process)."""

from __future__ import annotations

import math

import pytest

from memos.configs.embedder import EmbedderConfigFactory, SentenceTransformerEmbedderConfig
from memos.embedders import sentence_transformer as st
from memos.embedders.factory import EmbedderFactory
from memos.embedders.sentence_transformer import SenTranEmbedder, packaged_minilm_path
from memos.errors import DimensionMismatchError, EmbedderError, InvalidMemoryInputError


@pytest.fixture(scope="module")
def minilm() -> SenTranEmbedder:
    return SenTranEmbedder(SentenceTransformerEmbedderConfig())


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_default_is_the_packaged_minilm() -> None:
    path = packaged_minilm_path()
    assert (path / "model.safetensors").is_file()
    for name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        assert st.resolve_model_path(name) == path


def test_vectors_are_384_d_normalised_and_meaningful(minilm: SenTranEmbedder) -> None:
    assert minilm.dimension == 384
    cat, kitten, stocks = minilm.embed(
        [
            "The cat sleeps on the sofa.",
            "A kitten is napping on the couch.",
            "Quarterly earnings beat analyst expectations.",
        ]
    )
    assert len(cat) == 384
    for vector in (cat, kitten, stocks):
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, abs_tol=1e-4)
    assert cosine(cat, kitten) > cosine(cat, stocks) + 0.3


def test_batching_does_not_change_vectors(minilm: SenTranEmbedder) -> None:
    texts = [f"sentence number {i} about gardening" for i in range(5)]
    small = SenTranEmbedder(SentenceTransformerEmbedderConfig(batch_size=2))
    for a, b in zip(small.embed(texts), minilm.embed(texts), strict=True):
        assert cosine(a, b) > 0.9999


def test_model_is_loaded_once_per_process(minilm: SenTranEmbedder) -> None:
    other = SenTranEmbedder(
        SentenceTransformerEmbedderConfig(model_name_or_path=str(packaged_minilm_path()))
    )
    assert other.model is minilm.model


def test_empty_list_and_bad_texts(minilm: SenTranEmbedder) -> None:
    assert minilm.embed([]) == []
    with pytest.raises(InvalidMemoryInputError, match="position 1"):
        minilm.embed(["fine", ""])
    with pytest.raises(InvalidMemoryInputError, match="must be a string"):
        minilm.embed([b"bytes"])  # type: ignore[list-item]


def test_configured_dimension_is_checked_against_the_model() -> None:
    embedder = SenTranEmbedder(SentenceTransformerEmbedderConfig(embedding_dims=512))
    with pytest.raises(DimensionMismatchError) as info:
        embedder.embed(["hello"])
    assert (info.value.expected, info.value.got) == (512, 384)
    assert "512" in str(info.value) and "384" in str(info.value)


def test_unknown_model_fails_offline_naming_it(tmp_path) -> None:
    with pytest.raises(EmbedderError, match="no-such-org/no-such-model"):
        SenTranEmbedder(
            SentenceTransformerEmbedderConfig(model_name_or_path="no-such-org/no-such-model")
        )


def test_empty_folder_is_not_a_model(tmp_path) -> None:
    embedder = SenTranEmbedder(SentenceTransformerEmbedderConfig(model_name_or_path=str(tmp_path)))
    with pytest.raises(EmbedderError, match=str(tmp_path)):
        embedder.embed(["hello"])


def test_factory_default_config_gives_minilm(minilm: SenTranEmbedder) -> None:
    embedder = EmbedderFactory.from_config(
        EmbedderConfigFactory(backend="sentence_transformer", config={})
    )
    assert isinstance(embedder, SenTranEmbedder)
    assert embedder.dimension == 384


@pytest.mark.parametrize(("cap", "expected"), [("1", 1), ("", 2), ("4", 2), ("zero", 2)])
def test_the_environment_caps_torch_threads(
    cap: str, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    before = torch.get_num_threads()
    monkeypatch.setattr(st, "_THREADS_SET", False)
    monkeypatch.setenv(st.TORCH_THREADS_ENV, cap)
    try:
        st._set_threads_once(2)
        assert torch.get_num_threads() == expected
        st._set_threads_once(3)  # once per process: a later model does not change it
        assert torch.get_num_threads() == expected
    finally:
        torch.set_num_threads(before)


def test_the_embedded_stack_gives_its_workers_one_torch_thread() -> None:
    from memos.configs.mem_os import EmbeddedSettings

    assert EmbeddedSettings().worker_torch_threads == 1


def test_the_direct_forward_pass_gives_encodes_vectors_bit_for_bit(
    minilm: SenTranEmbedder,
) -> None:
    """The embedder skips ``encode``'s per-call set-up; the vectors must not change."""
    import numpy as np

    model = minilm.model
    forward = st.direct_forward(model)
    assert forward is not None  # the packaged MiniLM takes the direct path
    assert minilm._forward is not None  # and the embedder uses it
    texts = [
        "short",
        "Caroline went to the LGBTQ support group on 7 May 2023 and found it very moving.",
        "What did Melanie paint last year?",
        "a b c d e f g h i j k l m n o p q r s t u v w x y z " * 3,
    ]
    for batch in ([texts[0]], texts):
        for normalize in (True, False):
            expected = model.encode(
                batch,
                batch_size=len(batch),
                normalize_embeddings=normalize,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            got = forward(batch, normalize)
            assert got.dtype == np.float32 and got.shape == expected.shape
            assert np.array_equal(got, expected)
    # Through embed(): batches grouped by length (other padding), so equal up to rounding.
    embedded = np.asarray(minilm.embed(texts), dtype=np.float32)
    assert np.allclose(embedded, forward(texts, True), atol=1e-5)


def test_a_model_with_a_default_prompt_keeps_encode(minilm: SenTranEmbedder) -> None:
    class Prompted:
        default_prompt_name = "query"
        truncate_dim = None
        device = "cpu"

        def tokenize(self, texts: list[str]) -> dict[str, object]:
            raise AssertionError("never called")

    assert st.direct_forward(Prompted()) is None  # type: ignore[arg-type]
