"""The embedder interface shared by every backend.

:meth:`BaseEmbedder.embed` validates the input, splits it into batches of ``batch_size`` and checks
every returned vector against the expected dimension; backends only implement
:meth:`BaseEmbedder._embed_batch`.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence

from memos.configs.embedder import BaseEmbedderConfig
from memos.errors import DimensionMismatchError, EmbedderError, InvalidMemoryInputError

logger = logging.getLogger(__name__)


def validate_texts(texts: Sequence[object]) -> list[str]:
    """Return ``texts`` as a list of strings, or raise :class:`InvalidMemoryInputError`.

    Every element must be a non-blank string; the message names the first offending position.
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InvalidMemoryInputError(
            f"texts must be a list of strings, got {type(texts).__name__}"
        )
    out: list[str] = []
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidMemoryInputError(
                f"text at position {position} must be a string, got {type(text).__name__}"
            )
        if not text.strip():
            raise InvalidMemoryInputError(
                f"text at position {position} is empty or whitespace only"
            )
        out.append(text)
    return out


#: A batch holds texts whose lengths differ by at most this factor (see length_sorted_batches).
MAX_LENGTH_SPREAD = 1.5
# Below this many characters a text's cost is dominated by the special tokens and the call, so
# shorter texts count as this long: many short texts still share one batch.
_SPREAD_FLOOR_CHARS = 32


def length_sorted_batches(texts: Sequence[str], size: int) -> list[list[int]]:
    """Positions of ``texts`` in batches of at most ``size``, longest texts first.

    A model pads every text of a batch to the batch's longest, so batches of texts of
    similar length waste the least compute. Sorting must happen before splitting: splitting
    in input order and sorting inside each batch (as sentence-transformers' ``encode`` does)
    still pads a short text to the longest one that happened to be near it. A batch is also
    closed when the next text is :data:`MAX_LENGTH_SPREAD` times shorter than the batch's
    first: a call of a few dozen texts of mixed lengths (one add event) would otherwise be one
    batch padded to its longest text, which measured 1.8x slower on MiniLM than length-bounded
    batches (BENCHMARKS.md, "Ingest"). Ties keep input order, so the batches are deterministic.
    """
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    batches: list[list[int]] = []
    current: list[int] = []
    first = 0
    for position in order:
        length = max(len(texts[position]), _SPREAD_FLOOR_CHARS)
        if current and (len(current) >= size or length * MAX_LENGTH_SPREAD < first):
            batches.append(current)
            current = []
        if not current:
            first = length
        current.append(position)
    if current:
        batches.append(current)
    return batches


class BaseEmbedder(ABC):
    """Embeds lists of texts into lists of float vectors of a fixed :attr:`dimension`."""

    def __init__(self, config: BaseEmbedderConfig) -> None:
        self.config = config
        # Known up front when the config states it; otherwise learnt from the model/server.
        self._dimension: int | None = config.embedding_dims

    @property
    def model_name(self) -> str:
        """The model this embedder uses (name or path, as configured)."""
        return self.config.model_name_or_path

    @property
    def dimension(self) -> int:
        """Length of every vector this embedder returns."""
        if self._dimension is None:
            self._dimension = self._probe_dimension()
        return self._dimension

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed ``texts`` (in batches of ``config.batch_size``); an empty list gives ``[]``.

        The batches group texts of similar length (:func:`length_sorted_batches`); the vectors
        come back in the order of ``texts``.

        Raises:
            InvalidMemoryInputError: an element is not a string or is blank.
            DimensionMismatchError: the model returned vectors of another dimension than
                ``embedding_dims`` (or than earlier vectors).
            EmbedderError: the model could not be loaded or the server failed.
        """
        clean = validate_texts(texts)
        if not clean:
            return []
        size = self.config.batch_size
        # Every position is filled: the batches partition the positions.
        vectors: list[list[float]] = [[] for _ in clean]
        for positions in length_sorted_batches(clean, size):
            batch = [clean[i] for i in positions]
            result = self._embed_batch(batch)
            if len(result) != len(batch):
                raise EmbedderError(
                    f"embedder {self.model_name!r} returned {len(result)} vectors "
                    f"for {len(batch)} texts"
                )
            for position, vector in zip(positions, result, strict=True):
                self._check_dimension(len(vector))
                vectors[position] = vector
        logger.debug("embedded %d texts with %s", len(clean), self.model_name)
        return vectors

    def _check_dimension(self, got: int) -> None:
        if self._dimension is None:
            self._dimension = got
        elif got != self._dimension:
            raise DimensionMismatchError(
                self._dimension,
                got,
                where=f"embedder {self.model_name!r} (embedding_dims)",
            )

    def _probe_dimension(self) -> int:
        """Learn the dimension by embedding one short text (remote backends override nothing)."""
        vector = self._embed_batch(["dimension probe"])[0]
        return len(vector)

    @abstractmethod
    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        """Embed one batch of already validated texts."""
