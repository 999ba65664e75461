"""FaissVecDB: flat and HNSW indexes, metrics, filters, updates, deletes and persistence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from memos.configs.vec_db import FaissVecDBConfig, VectorDBConfigFactory
from memos.errors import (
    ConfigError,
    DimensionMismatchError,
    DumpFormatError,
    MemoryNotFoundError,
    VectorStoreError,
)
from memos.vec_dbs.base import VecDBItem, payload_matches
from memos.vec_dbs.factory import VecDBFactory
from memos.vec_dbs.faiss import INDEX_FILE, META_FILE, FaissVecDB

DIM = 16


def vectors(n: int, seed: int = 0) -> list[list[float]]:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32).tolist()


def make(n: int = 0, **kwargs) -> FaissVecDB:
    db = FaissVecDB(FaissVecDBConfig(vector_dimension=DIM, **kwargs))
    if n:
        db.add(
            [
                VecDBItem(id=f"id-{i}", vector=v, payload={"group": i % 3, "meta": {"n": i}})
                for i, v in enumerate(vectors(n))
            ]
        )
    return db


def brute_force(data: list[list[float]], query: list[float], metric: str) -> list[int]:
    x, q = np.asarray(data), np.asarray(query)
    if metric == "cosine":
        scores = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
    elif metric == "dot":
        scores = x @ q
    else:
        scores = -np.linalg.norm(x - q, axis=1)
    return np.argsort(-scores).tolist()


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_flat_search_is_exact_for_every_metric(metric: str) -> None:
    db = make(200, distance_metric=metric)
    data = vectors(200)
    query = vectors(1, seed=9)[0]
    hits = db.search(query, 10)
    assert [h.id for h in hits] == [f"id-{i}" for i in brute_force(data, query, metric)[:10]]
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert hits[0].payload == {"group": int(hits[0].id[3:]) % 3, "meta": {"n": int(hits[0].id[3:])}}


def test_cosine_score_of_the_same_direction_is_one() -> None:
    db = make(10)
    query = (np.asarray(vectors(10)[4]) * 7.0).tolist()
    top = db.search(query, 1)[0]
    assert top.id == "id-4"
    assert top.score == pytest.approx(1.0, abs=1e-5)


def test_hnsw_finds_the_nearest_and_supports_delete_and_update() -> None:
    db = make(300, index_type="hnsw", hnsw_m=16)
    data = vectors(300)
    assert db.search(data[42], 1)[0].id == "id-42"
    db.delete(["id-42"])
    assert db.count() == 299
    assert db.search(data[42], 1)[0].id != "id-42"
    db.update("id-7", vector=data[42])
    assert db.search(data[42], 1)[0].id == "id-7"


def test_filter_is_equality_on_payload_keys_including_dotted() -> None:
    db = make(60)
    query = vectors(1, seed=3)[0]
    hits = db.search(query, 5, filter={"group": 2})
    assert len(hits) == 5 and all(h.payload["group"] == 2 for h in hits)
    exact = [f"id-{i}" for i in brute_force(vectors(60), query, "cosine") if i % 3 == 2][:5]
    assert [h.id for h in hits] == exact
    assert [h.id for h in db.search(query, 3, filter={"meta.n": 13})] == ["id-13"]
    assert db.search(query, 3, filter={"group": 99}) == []


def test_filter_falls_back_to_exact_search_when_matches_are_rare() -> None:
    # 1 match among 500: the over-fetched candidates will not contain it.
    db = make(500)
    db.update("id-321", payload={"group": "rare"})
    query = vectors(1, seed=5)[0]
    hits = db.search(query, 3, filter={"group": "rare"})
    assert [h.id for h in hits] == ["id-321"]
    direct = np.asarray(vectors(500)[321])
    expected = float(direct @ query / np.linalg.norm(direct) / np.linalg.norm(query))
    assert hits[0].score == pytest.approx(expected, abs=1e-5)


def test_payload_matches_helper() -> None:
    assert payload_matches({"a": {"b": 1}}, {"a.b": 1})
    assert not payload_matches({"a": {"b": 1}}, {"a.c": 1})
    assert not payload_matches({"a": 1}, {"a.b": 1})


def test_get_update_delete_and_count() -> None:
    db = make(5)
    item = db.get_by_id("id-2")
    assert item is not None and item.payload["group"] == 2
    assert item.vector is not None and len(item.vector) == DIM
    assert db.get_by_id("nope") is None
    assert [i.id for i in db.get_by_ids(["id-4", "nope", "id-0"])] == ["id-4", "id-0"]
    db.update("id-2", payload={"group": "new"})
    assert db.get_by_id("id-2").payload == {"group": "new"}  # type: ignore[union-attr]
    with pytest.raises(MemoryNotFoundError, match="nope"):
        db.update("nope", payload={})
    with pytest.raises(MemoryNotFoundError, match="nope"):
        db.delete(["id-1", "nope"])
    assert db.count() == 5  # nothing deleted
    db.delete(["id-1", "id-3"])
    assert [i.id for i in db.get_all()] == ["id-0", "id-2", "id-4"]
    db.delete_all()
    assert db.count() == 0 and db.search(vectors(1)[0], 3) == []


def test_adding_an_existing_id_is_refused() -> None:
    db = make(3)
    with pytest.raises(VectorStoreError, match=r"id-1.*already exists"):
        db.add([VecDBItem(id="id-1", vector=vectors(1)[0])])
    with pytest.raises(VectorStoreError, match="already exists"):
        db.add([VecDBItem(id="x", vector=vectors(1)[0]), VecDBItem(id="x", vector=vectors(1)[0])])
    assert db.count() == 3


def test_dimension_mismatch_names_both_numbers() -> None:
    db = make(3)
    with pytest.raises(DimensionMismatchError, match=r"16.*got dimension 8"):
        db.add([VecDBItem(id="short", vector=[0.1] * 8)])
    with pytest.raises(DimensionMismatchError) as info:
        db.search([0.1] * 20, 1)
    assert (info.value.expected, info.value.got) == (16, 20)


def test_non_json_payload_and_nan_are_refused() -> None:
    db = make()
    with pytest.raises(VectorStoreError, match="JSON"):
        db.add([VecDBItem(id="a", vector=vectors(1)[0], payload={"x": {1, 2}})])
    with pytest.raises(VectorStoreError, match="NaN"):
        db.add([VecDBItem(id="a", vector=[float("nan")] * DIM)])


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
def test_save_and_load_round_trip(tmp_path, index_type: str) -> None:
    db = make(100, index_type=index_type)
    db.delete(["id-10"])
    db.save(tmp_path)
    assert (tmp_path / INDEX_FILE).is_file() and (tmp_path / META_FILE).is_file()
    meta = json.loads((tmp_path / META_FILE).read_text())
    assert meta["format_version"] == 1 and meta["dimension"] == DIM
    fresh = make(index_type=index_type)
    fresh.load(tmp_path)
    query = vectors(1, seed=11)[0]
    assert fresh.search(query, 10) == db.search(query, 10)
    assert fresh.get_all() == db.get_all()
    # ids keep growing after a load: no reuse of a deleted item's int id
    fresh.add([VecDBItem(id="new", vector=query)])
    assert fresh.search(query, 1)[0].id == "new"


def test_load_into_another_index_type_rebuilds(tmp_path) -> None:
    make(50).save(tmp_path)
    hnsw = make(index_type="hnsw")
    hnsw.load(tmp_path)
    assert hnsw.search(vectors(50)[7], 1)[0].id == "id-7"


def test_configured_path_is_the_default_directory(tmp_path) -> None:
    db = make(4, path=str(tmp_path / "store"))
    assert db.save() == tmp_path / "store"
    other = make(path=str(tmp_path / "store"))
    other.load()
    assert other.count() == 4
    with pytest.raises(VectorStoreError, match="no directory"):
        make().save()


def test_load_errors_leave_the_store_unchanged(tmp_path) -> None:
    db = make(5)
    with pytest.raises(DumpFormatError, match="missing"):
        db.load(tmp_path / "absent")
    make(3).save(tmp_path)
    (tmp_path / INDEX_FILE).write_bytes(b"not a faiss index")
    with pytest.raises(DumpFormatError, match="not a readable faiss index"):
        db.load(tmp_path)
    make(3).save(tmp_path)
    (tmp_path / META_FILE).write_text("{broken")
    with pytest.raises(DumpFormatError, match="not valid JSON"):
        db.load(tmp_path)
    make(3).save(tmp_path)
    meta = json.loads((tmp_path / META_FILE).read_text())
    (tmp_path / META_FILE).write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(DumpFormatError, match="format version 99"):
        db.load(tmp_path)
    (tmp_path / META_FILE).write_text(json.dumps({**meta, "entries": meta["entries"][:2]}))
    with pytest.raises(DumpFormatError, match="disagree"):
        db.load(tmp_path)
    (tmp_path / META_FILE).write_text(json.dumps({**meta, "metric": "dot"}))
    with pytest.raises(DumpFormatError, match="metric 'dot'"):
        db.load(tmp_path)
    assert db.count() == 5


def test_load_with_another_dimension_names_both(tmp_path) -> None:
    make(3).save(tmp_path)
    other = FaissVecDB(FaissVecDBConfig(vector_dimension=384))
    with pytest.raises(DimensionMismatchError) as info:
        other.load(tmp_path)
    assert (info.value.expected, info.value.got) == (384, DIM)


def test_factory_and_config_errors() -> None:
    store = VecDBFactory.from_config(VectorDBConfigFactory(backend="faiss", config={}))
    assert isinstance(store, FaissVecDB) and store.dimension == 384
    with pytest.raises(ConfigError, match="unknown backend 'qdrant'; known backends: faiss"):
        VectorDBConfigFactory.validate_data({"backend": "qdrant", "config": {}})
    with pytest.raises(ConfigError, match=r"config\.index_type"):
        VectorDBConfigFactory.validate_data({"backend": "faiss", "config": {"index_type": "ivf"}})
