"""``FaissVecDB``: a faiss index in process, string ids, JSON payloads, files on disk.

Layout: an ``IndexIDMap2`` over a flat (exact) or HNSW index maps int64 ids to vectors; the string
ids and payloads live in Python dicts. ``save`` writes ``faiss.index`` (``faiss.write_index``) and
``faiss_meta.json`` (ids, payloads, dimension, metric, format version); nothing is pickled.

Scores are "higher is better" for every metric: the inner product for ``cosine`` (vectors are
normalised on the way in) and ``dot``, and the negated L2 distance for ``euclidean``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from memos.configs.vec_db import FaissVecDBConfig
from memos.errors import (
    DimensionMismatchError,
    DumpFormatError,
    MemoryNotFoundError,
    VectorStoreError,
)
from memos.vec_dbs.base import BaseVecDB, VecDBItem, payload_matches

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
INDEX_FILE = "faiss.index"
META_FILE = "faiss_meta.json"
# A filtered search first asks faiss for this many times top_k, then falls back to exact scoring.
_OVERFETCH_FACTOR = 4
_MIN_OVERFETCH = 16

Matrix = npt.NDArray[np.float32]


@dataclass
class _Tables:
    """Everything that changes together; ``load`` builds a new one and swaps it in."""

    index: Any
    str_to_int: dict[str, int] = field(default_factory=dict)
    int_to_str: dict[int, str] = field(default_factory=dict)
    payloads: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_int: int = 0


class FaissVecDB(BaseVecDB):
    """A faiss-backed collection (see the module docstring for layout and scores)."""

    config: FaissVecDBConfig

    def __init__(self, config: FaissVecDBConfig) -> None:
        super().__init__(config)
        # Global in faiss; one thread avoids OpenMP spinning that makes queries 3-4x slower.
        faiss.omp_set_num_threads(config.num_threads)
        self._lock = threading.RLock()
        self._t = _Tables(index=self._new_index())

    # ---- construction helpers -------------------------------------------------------------

    def _new_index(self) -> Any:
        dim = self.config.vector_dimension
        euclidean = self.config.distance_metric == "euclidean"
        metric = faiss.METRIC_L2 if euclidean else faiss.METRIC_INNER_PRODUCT
        inner: Any
        if self.config.index_type == "hnsw":
            inner = faiss.IndexHNSWFlat(dim, self.config.hnsw_m, metric)
            inner.hnsw.efConstruction = self.config.hnsw_ef_construction
            inner.hnsw.efSearch = self.config.hnsw_ef_search
        elif metric == faiss.METRIC_L2:
            inner = faiss.IndexFlatL2(dim)
        else:
            inner = faiss.IndexFlatIP(dim)
        return faiss.IndexIDMap2(inner)

    def _where(self) -> str:
        return f"faiss collection {self.config.collection_name!r}"

    def _as_matrix(self, vectors: list[list[float]]) -> Matrix:
        """Check dimensions and convert; cosine vectors are normalised here, once."""
        for vector in vectors:
            if len(vector) != self.dimension:
                raise DimensionMismatchError(self.dimension, len(vector), where=self._where())
        matrix = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dimension)
        matrix = np.ascontiguousarray(matrix)
        if not np.isfinite(matrix).all():
            raise VectorStoreError(f"{self._where()}: vectors must not contain NaN or infinity")
        if self.config.distance_metric == "cosine":
            faiss.normalize_L2(matrix)
        return matrix

    def _check_payload(self, id: str, payload: dict[str, Any]) -> None:
        try:
            json.dumps(payload)
        except (TypeError, ValueError) as exc:
            raise VectorStoreError(
                f"{self._where()}: payload of {id!r} is not JSON-serialisable: {exc}"
            ) from exc

    # ---- writes ---------------------------------------------------------------------------

    def add(self, items: list[VecDBItem]) -> None:
        """Store new items (see :meth:`BaseVecDB.add`)."""
        if not items:
            return
        with self._lock:
            seen: set[str] = set()
            for item in items:
                if item.id in self._t.str_to_int or item.id in seen:
                    raise VectorStoreError(
                        f"{self._where()}: id {item.id!r} already exists; use update() to change it"
                    )
                if item.vector is None:
                    raise VectorStoreError(f"{self._where()}: item {item.id!r} has no vector")
                self._check_payload(item.id, item.payload)
                seen.add(item.id)
            matrix = self._as_matrix([item.vector for item in items if item.vector is not None])
            ints = np.arange(self._t.next_int, self._t.next_int + len(items), dtype=np.int64)
            self._t.index.add_with_ids(matrix, ints)
            for item, int_id in zip(items, ints.tolist(), strict=True):
                self._t.str_to_int[item.id] = int_id
                self._t.int_to_str[int_id] = item.id
                self._t.payloads[item.id] = dict(item.payload)
            self._t.next_int += len(items)

    def update(
        self, id: str, vector: list[float] | None = None, payload: dict[str, Any] | None = None
    ) -> None:
        """Replace the vector and/or payload of ``id`` (MemoryNotFoundError if unknown)."""
        with self._lock:
            int_id = self._t.str_to_int.get(id)
            if int_id is None:
                raise MemoryNotFoundError(id, where=self._where())
            if payload is not None:
                self._check_payload(id, payload)
            if vector is not None:
                matrix = self._as_matrix([vector])
                self._replace_vectors(np.array([int_id], dtype=np.int64), matrix)
            if payload is not None:
                self._t.payloads[id] = dict(payload)

    def delete(self, ids: list[str]) -> None:
        """Remove ``ids``; if any is unknown, raise MemoryNotFoundError and remove nothing."""
        with self._lock:
            missing = [i for i in ids if i not in self._t.str_to_int]
            if missing:
                raise MemoryNotFoundError(missing[0], where=self._where())
            unique = list(dict.fromkeys(ids))
            if not unique:
                return
            ints = np.array([self._t.str_to_int[i] for i in unique], dtype=np.int64)
            self._remove_ints(ints)
            for id in unique:
                int_id = self._t.str_to_int.pop(id)
                del self._t.int_to_str[int_id]
                del self._t.payloads[id]

    def delete_all(self) -> None:
        """Remove every item (ids start again from zero)."""
        with self._lock:
            self._t = _Tables(index=self._new_index())

    def _remove_ints(self, ints: npt.NDArray[np.int64]) -> None:
        if self.config.index_type == "flat":
            self._t.index.remove_ids(ints)
            return
        # faiss HNSW cannot remove vectors: rebuild from the remaining ones.
        all_ints, vectors = self._all_vectors()
        keep = ~np.isin(all_ints, ints)
        self._t.index = self._built(all_ints[keep], vectors[keep])

    def _replace_vectors(self, ints: npt.NDArray[np.int64], matrix: Matrix) -> None:
        if self.config.index_type == "flat":
            self._t.index.remove_ids(ints)
            self._t.index.add_with_ids(matrix, ints)
            return
        all_ints, vectors = self._all_vectors()
        positions = {int(v): n for n, v in enumerate(all_ints.tolist())}
        for row, int_id in enumerate(ints.tolist()):
            vectors[positions[int_id]] = matrix[row]
        self._t.index = self._built(all_ints, vectors)

    def _built(self, ints: npt.NDArray[np.int64], vectors: Matrix) -> Any:
        index = self._new_index()
        if len(ints):
            index.add_with_ids(np.ascontiguousarray(vectors), np.ascontiguousarray(ints))
        return index

    def _all_vectors(self, index: Any = None) -> tuple[npt.NDArray[np.int64], Matrix]:
        """Int ids and their (stored, i.e. normalised) vectors in index order."""
        idx = self._t.index if index is None else index
        total = idx.ntotal
        ints = faiss.vector_to_array(idx.id_map).astype(np.int64)
        if total == 0:
            return ints, np.zeros((0, self.dimension), dtype=np.float32)
        vectors = np.asarray(idx.index.reconstruct_n(0, total), dtype=np.float32)
        return ints, vectors

    # ---- reads ----------------------------------------------------------------------------

    def count(self) -> int:
        """Number of stored items."""
        with self._lock:
            return len(self._t.str_to_int)

    def search(
        self, vector: list[float], top_k: int, filter: Mapping[str, Any] | None = None
    ) -> list[VecDBItem]:
        """Best ``top_k`` matches of ``vector`` whose payload equals ``filter`` on its keys."""
        if top_k <= 0:
            return []
        with self._lock:
            query = self._as_matrix([vector])
            total = self._t.index.ntotal
            if total == 0:
                return []
            if not filter:
                return self._faiss_search(query, min(top_k, total), None, top_k)
            fetch = min(total, max(top_k * _OVERFETCH_FACTOR, _MIN_OVERFETCH))
            found = self._faiss_search(query, fetch, filter, top_k)
            if len(found) >= top_k or (fetch >= total and self.config.index_type == "flat"):
                return found
            # Too few matches among the nearest candidates: score every match exactly.
            return self._exact_search(query[0], filter, top_k)

    def _faiss_search(
        self, query: Matrix, k: int, filter: Mapping[str, Any] | None, top_k: int
    ) -> list[VecDBItem]:
        index = self._t.index
        if self.config.index_type == "hnsw":
            hnsw: Any = faiss.downcast_index(index.index)
            hnsw.hnsw.efSearch = max(self.config.hnsw_ef_search, k)
        distances, labels = index.search(query, k)
        results: list[VecDBItem] = []
        for dist, label in zip(distances[0].tolist(), labels[0].tolist(), strict=True):
            if label < 0:
                continue
            id = self._t.int_to_str[int(label)]
            payload = self._t.payloads[id]
            if filter and not payload_matches(payload, filter):
                continue
            results.append(VecDBItem(id=id, payload=dict(payload), score=self._score(dist)))
            if len(results) >= top_k:
                break
        return results

    def _exact_search(
        self, query: Matrix, filter: Mapping[str, Any], top_k: int
    ) -> list[VecDBItem]:
        ids = [i for i, p in self._t.payloads.items() if payload_matches(p, filter)]
        if not ids:
            return []
        vectors = np.stack([self._t.index.reconstruct(self._t.str_to_int[i]) for i in ids])
        if self.config.distance_metric == "euclidean":
            diff = vectors - query
            raw = np.einsum("ij,ij->i", diff, diff)
        else:
            raw = vectors @ query
        scores = [self._score(float(d)) for d in raw.tolist()]
        order = sorted(range(len(ids)), key=lambda n: -scores[n])[:top_k]
        return [
            VecDBItem(id=ids[n], payload=dict(self._t.payloads[ids[n]]), score=scores[n])
            for n in order
        ]

    def _score(self, raw: float) -> float:
        if self.config.distance_metric == "euclidean":
            # faiss returns squared L2; report the negated distance so higher is better.
            return 0.0 - float(np.sqrt(max(raw, 0.0)))
        return float(raw)

    def get_by_id(self, id: str) -> VecDBItem | None:
        """The item with ``id`` and its stored vector, or None."""
        with self._lock:
            int_id = self._t.str_to_int.get(id)
            if int_id is None:
                return None
            vector = self._t.index.reconstruct(int_id)
            return VecDBItem(id=id, vector=vector.tolist(), payload=dict(self._t.payloads[id]))

    def get_by_ids(self, ids: list[str]) -> list[VecDBItem]:
        """Existing items among ``ids``, in the given order."""
        with self._lock:
            found = (self.get_by_id(i) for i in ids)
            return [item for item in found if item is not None]

    def get_all(self) -> list[VecDBItem]:
        """Every item with its vector, in insertion order."""
        with self._lock:
            ints, vectors = self._all_vectors()
            by_int = {int(i): row for i, row in zip(ints.tolist(), vectors, strict=True)}
            return [
                VecDBItem(id=id, vector=by_int[int_id].tolist(), payload=dict(self._t.payloads[id]))
                for id, int_id in self._t.str_to_int.items()
            ]

    # ---- persistence ----------------------------------------------------------------------

    def _directory(self, directory: str | Path | None) -> Path:
        if directory is not None:
            return Path(directory)
        if self.config.path:
            return Path(self.config.path)
        raise VectorStoreError(
            f"{self._where()}: no directory given and no 'path' configured for save/load"
        )

    def save(self, directory: str | Path | None = None) -> Path:
        """Write ``faiss.index`` and ``faiss_meta.json`` under ``directory`` (atomically each)."""
        target = self._directory(directory)
        target.mkdir(parents=True, exist_ok=True)
        with self._lock:
            meta: dict[str, Any] = {
                "format_version": FORMAT_VERSION,
                "collection_name": self.config.collection_name,
                "dimension": self.dimension,
                "metric": self.config.distance_metric,
                "index_type": self.config.index_type,
                "next_int": self._t.next_int,
                "entries": [
                    {"id": id, "int_id": int_id, "payload": self._t.payloads[id]}
                    for id, int_id in self._t.str_to_int.items()
                ],
            }
            # Write to temporary names and rename, so a crash never leaves a torn file.
            tmp_index = _temp_path(target, INDEX_FILE)
            try:
                faiss.write_index(self._t.index, str(tmp_index))
            except RuntimeError as exc:
                tmp_index.unlink(missing_ok=True)
                raise VectorStoreError(f"{self._where()}: cannot write index: {exc}") from exc
            _write_text_atomic(target / META_FILE, json.dumps(meta))
            os.replace(tmp_index, target / INDEX_FILE)
        logger.info("saved %s (%d vectors) to %s", self._where(), len(meta["entries"]), target)
        return target

    def load(self, directory: str | Path | None = None) -> None:
        """Replace the contents with a saved collection; on any error nothing changes.

        Raises:
            DumpFormatError: files missing, corrupt, inconsistent or of another format version.
            DimensionMismatchError: the saved dimension differs from ``vector_dimension``.
        """
        source = self._directory(directory)
        tables = self._read_tables(source)
        with self._lock:
            self._t = tables
        logger.info("loaded %s (%d vectors) from %s", self._where(), len(tables.payloads), source)

    def _read_tables(self, source: Path) -> _Tables:
        meta_path, index_path = source / META_FILE, source / INDEX_FILE
        for path in (meta_path, index_path):
            if not path.is_file():
                raise DumpFormatError(f"vector store file {path} is missing")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DumpFormatError(f"{meta_path} is not valid JSON: {exc}") from exc
        if not isinstance(meta, dict):
            raise DumpFormatError(f"{meta_path} must hold a JSON object")
        version = meta.get("format_version")
        if version != FORMAT_VERSION:
            raise DumpFormatError(
                f"{meta_path} has format version {version!r}; this version reads {FORMAT_VERSION}"
            )
        dimension = meta.get("dimension")
        if not isinstance(dimension, int):
            raise DumpFormatError(f"{meta_path} has no integer 'dimension'")
        if dimension != self.dimension:
            raise DimensionMismatchError(
                self.dimension, dimension, where=f"{self._where()} (loading {source})"
            )
        metric = meta.get("metric")
        if metric != self.config.distance_metric:
            raise DumpFormatError(
                f"{meta_path} was saved with metric {metric!r} but the store is configured "
                f"for {self.config.distance_metric!r}"
            )
        try:
            index = faiss.read_index(str(index_path))
        except RuntimeError as exc:
            raise DumpFormatError(f"{index_path} is not a readable faiss index: {exc}") from exc
        tables = self._tables_from(meta, index, meta_path)
        if meta.get("index_type") != self.config.index_type:
            # The vectors are what matter: rebuild them into the configured index type.
            ints, vectors = self._all_vectors(tables.index)
            tables.index = self._built(ints, vectors)
        return tables

    def _tables_from(self, meta: dict[str, Any], index: Any, meta_path: Path) -> _Tables:
        if not isinstance(index, faiss.IndexIDMap2):
            index = faiss.downcast_index(index)
        if not hasattr(index, "id_map") or index.d != self.dimension:
            raise DumpFormatError(f"{meta_path.parent / INDEX_FILE} is not an id-mapped index")
        entries = meta.get("entries")
        next_int = meta.get("next_int")
        if not isinstance(entries, list) or not isinstance(next_int, int):
            raise DumpFormatError(f"{meta_path} has no 'entries' list or 'next_int'")
        tables = _Tables(index=index, next_int=next_int)
        try:
            for entry in entries:
                id, int_id, payload = entry["id"], int(entry["int_id"]), entry["payload"]
                if not isinstance(id, str) or not isinstance(payload, dict):
                    raise TypeError("id must be a string and payload an object")
                if id in tables.str_to_int or int_id in tables.int_to_str:
                    raise ValueError(f"duplicate id {id!r}")
                tables.str_to_int[id] = int_id
                tables.int_to_str[int_id] = id
                tables.payloads[id] = payload
        except (KeyError, TypeError, ValueError) as exc:
            raise DumpFormatError(f"{meta_path} has a malformed entry: {exc}") from exc
        stored = set(faiss.vector_to_array(index.id_map).astype(np.int64).tolist())
        if stored != set(tables.int_to_str):
            raise DumpFormatError(
                f"{meta_path} and {INDEX_FILE} disagree: {len(tables.int_to_str)} ids in the "
                f"metadata, {len(stored)} vectors in the index"
            )
        return tables


def _temp_path(directory: Path, name: str) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
    os.close(fd)
    return Path(tmp)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = _temp_path(path.parent, path.name)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
