"""Ranking helpers: keywords, Lucene-safe queries, RRF and MMR."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memos.memories.textual.retrieval import (
    fulltext_query,
    keywords,
    mmr_diversify,
    reciprocal_rank_fusion,
)

LUCENE_SPECIAL = set('+-&|!(){}[]^"~*?:\\/')


def test_keywords_drop_stopwords_and_possessives() -> None:
    assert keywords("When did Caroline's mom go to the LGBTQ support group?") == [
        "caroline",
        "mom",
        "go",
        "lgbtq",
        "support",
        "group",
    ]
    assert keywords("What is it?") == []


def test_fulltext_query_is_or_of_clean_terms() -> None:
    q = fulltext_query('What did "Caroline" (AND Mel) do: +paint* ~sunrise? [2022]')
    assert q == "caroline OR mel OR paint OR sunrise OR 2022"


def test_fulltext_query_empty_when_no_keywords() -> None:
    assert fulltext_query("") == ""
    assert fulltext_query("what is it? !!! ()") == ""


@given(st.text(max_size=200))
def test_fulltext_query_never_contains_lucene_syntax(text: str) -> None:
    q = fulltext_query(text)
    assert not LUCENE_SPECIAL & set(q)
    if q:
        terms = q.split(" OR ")
        assert all(t and re.fullmatch(r"\w+", t) and t.lower() == t for t in terms)
        assert not {"and", "or", "not"} & set(terms)


def test_rrf_hand_computed() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "d"]], k=1)
    scores = dict(fused)
    assert scores["b"] == pytest.approx(1 / 3 + 1 / 2)
    assert scores["a"] == pytest.approx(1 / 2)
    assert scores["d"] == pytest.approx(1 / 3)
    assert scores["c"] == pytest.approx(1 / 4)
    assert [i for i, _ in fused] == ["b", "a", "d", "c"]


def test_rrf_weights_and_duplicates() -> None:
    fused = reciprocal_rank_fusion([["a", "a", "b"], ["b"]], weights=[1.0, 3.0], k=0)
    assert dict(fused) == {"a": pytest.approx(1.0), "b": pytest.approx(1 / 3 + 3.0)}
    assert fused[0][0] == "b"


def test_rrf_ties_keep_first_seen_order() -> None:
    assert [i for i, _ in reciprocal_rank_fusion([["x"], ["y"]])] == ["x", "y"]


def test_rrf_rejects_bad_weights() -> None:
    with pytest.raises(ValueError, match="weights"):
        reciprocal_rank_fusion([["a"], ["b"]], weights=[1.0])
    with pytest.raises(ValueError, match=">= 0"):
        reciprocal_rank_fusion([["a"]], weights=[-1.0])


def test_mmr_prefers_diverse_candidates() -> None:
    candidates = [("a", 1.0), ("a2", 0.95), ("b", 0.9)]
    embeddings = {"a": [1.0, 0.0], "a2": [0.99, 0.01], "b": [0.0, 1.0]}
    picked = mmr_diversify(candidates, embeddings, top_k=2, lambda_=0.5)
    assert [i for i, _ in picked] == ["a", "b"]
    assert picked[1] == ("b", 0.9)
    # lambda 1 is pure relevance order.
    assert [i for i, _ in mmr_diversify(candidates, embeddings, 3, lambda_=1.0)] == [
        "a",
        "a2",
        "b",
    ]


def test_mmr_edge_cases() -> None:
    assert mmr_diversify([], {}, 3) == []
    assert mmr_diversify([("a", 1.0)], {}, 0) == []
    assert mmr_diversify([("a", 1.0), ("b", 1.0)], {}, 5) == [("a", 1.0), ("b", 1.0)]
    with pytest.raises(ValueError, match="lambda_"):
        mmr_diversify([("a", 1.0)], {}, 1, lambda_=1.5)


def test_search_rrf_k_favours_the_top_of_one_leg() -> None:
    # "a" leads one leg only; "b" is 14th in both. The search default (k=10) ranks "a" first,
    # the textbook k=60 would rank "b" first: the default is a deliberate choice.
    from memos.memories.textual.tree_search import DEFAULT_SEARCH

    one = ["a", *(f"x{i}" for i in range(12)), "b"]
    two = [*(f"y{i}" for i in range(13)), "b"]
    assert reciprocal_rank_fusion([one, two], k=DEFAULT_SEARCH.rrf_k)[0][0] == "a"
    assert reciprocal_rank_fusion([one, two], k=60)[0][0] == "b"
