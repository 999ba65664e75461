"""The LLM judge path against a real HTTP server on 127.0.0.1 speaking chat completions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from memos.configs.llm import LLMConfigFactory
from memos.configs.organize import ReorganizeConfig
from memos.errors import LLMError
from memos.memories.textual.organize import reorganize_cube
from memos.memories.textual.organize.prompts import parse_pair
from tests.llms.http_double import Reply, base_url, free_port, serve
from tests.memories.textual.organize.helpers import assert_consistent, cube, edges_of, item

pytestmark = pytest.mark.services

MERGED = "Melanie paints landscapes and scenery."


def _completion(content: dict[str, Any]) -> Reply:
    return Reply(
        body={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "judge",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": json.dumps(content)},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }
    )


def judge_route(method: str, path: str, body: Any) -> Reply:
    """Duplicate for the painting pair, contradiction for Jon's diet, unrelated otherwise."""
    assert method == "POST" and path == "/v1/chat/completions"
    prompt = body["messages"][-1]["content"]
    if "OLDER" not in prompt:
        return _completion({"title": "A topic", "summary": "Some memories."})
    if prompt.count("paint") == 2:
        return _completion({"relation": "duplicate", "merged": MERGED})
    if "vegetarian" in prompt and "steak" in prompt:
        return _completion({"relation": "contradiction"})
    return _completion({"relation": "unrelated"})


def _llm(url: str) -> LLMConfigFactory:
    return LLMConfigFactory(
        backend="openai",
        config={"api_base": f"{url}/v1", "api_key": "test-key", "model_name_or_path": "judge"},
    )


def test_llm_judge_merges_paraphrases_and_ends_contradictions(make_memory: Any) -> None:
    memory = make_memory()
    ids = memory.add(
        [
            item("Melanie enjoys painting landscapes.", "p1"),
            item("Melanie likes to paint scenery.", "p2"),
            item("Jon is a vegetarian.", "j1", valid_at="2023-01-01T00:00:00+00:00"),
            item("Jon eats steak every day.", "j2", valid_at="2024-02-01T00:00:00+00:00"),
        ]
    )
    with serve(judge_route) as server:
        config = ReorganizeConfig(
            hierarchy=False, llm=_llm(base_url(server)), llm_candidate_threshold=0.5
        )
        report = reorganize_cube(memory, config)
        requests = list(server.requests)
    assert report.llm_calls == len(requests) >= 2 and report.llm_failures == 0
    assert all(r.body["response_format"] == {"type": "json_object"} for r in requests)
    assert all(r.headers.get("Authorization") == "Bearer test-key" for r in requests)
    assert report.dedup.llm_pairs == 1 and report.dedup.groups_merged == 1
    assert report.conflicts.by_llm == 1

    nodes, edges = cube(memory)
    (target,) = {t for _, t in edges_of(edges, "MERGED_TO")}
    merged = memory.get(target)
    assert merged.memory == MERGED
    painting = memory.get(ids[0])
    assert merged.metadata.embedding != painting.metadata.embedding  # type: ignore[union-attr]
    assert {s.message_id for s in merged.metadata.sources} == {"p1", "p2"}  # type: ignore[union-attr]
    assert edges_of(edges, "SUPERSEDES") == [(ids[3], ids[2])]
    sup = next(e for e in edges if e["type"] == "SUPERSEDES")
    assert sup["properties"]["reason"] == "llm"
    assert nodes[ids[2]]["metadata"]["invalid_at"] == "2024-02-01T00:00:00+00:00"
    assert_consistent(memory, ids)


def test_unreachable_judge_falls_back_to_rules(make_memory: Any) -> None:
    memory = make_memory()
    old, new, _ = memory.add(
        [
            item("Caroline works at Acme.", "r1", valid_at="2023-01-01T00:00:00+00:00"),
            item("Caroline works at Globex.", "r2", valid_at="2024-01-01T00:00:00+00:00"),
            item("Caroline enjoys her job and her colleagues.", "r3"),
        ]
    )
    config = ReorganizeConfig(
        hierarchy=False,
        llm=LLMConfigFactory(
            backend="openai",
            config={"api_base": f"http://127.0.0.1:{free_port()}/v1", "timeout_s": 5},
        ),
        llm_candidate_threshold=0.3,
    )
    report = reorganize_cube(memory, config)
    assert report.llm_calls >= 1 and report.llm_failures == report.llm_calls
    assert report.conflicts.by_rule == 1 and report.dedup.groups_merged == 0
    assert memory.get(old).metadata.invalid_at == "2024-01-01T00:00:00+00:00"  # type: ignore[union-attr]
    assert memory.get(new).metadata.invalid_at is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "reply",
    ["no json here", '{"relation": "maybe"}', "```json\n{not json}\n```"],
)
def test_unusable_judge_answers_raise_llm_error(reply: str) -> None:
    with pytest.raises(LLMError):
        parse_pair(reply)


def test_judge_answer_in_a_code_fence_is_read() -> None:
    verdict = parse_pair('Sure!\n```json\n{"relation": "duplicate", "merged": "x"}\n```')
    assert verdict.relation == "duplicate" and verdict.merged == "x"
