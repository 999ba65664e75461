"""The REST API over real HTTP, on the embedded stack with the real daemon and worker."""

from __future__ import annotations

import uuid

import pytest

from tests.api.conftest import LiveApi
from tests.api.helpers import parse_sse

pytestmark = pytest.mark.services


def _error(response, status: int, code: str) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert body["error"]["message"]
    return str(body["error"]["message"])


def test_health_needs_no_key(live_api: LiveApi) -> None:
    with live_api.client() as client:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "redis": True, "scheduler": True}


def test_openapi_is_served(live_api: LiveApi) -> None:
    with live_api.client() as client:
        schema = client.get("/openapi.json").json()
    assert {"/v1/search", "/v1/memories", "/v1/chat/stream", "/health"} <= set(schema["paths"])
    assert "401" in schema["paths"]["/v1/search"]["post"]["responses"]


def test_a_key_is_required(live_api: LiveApi) -> None:
    with live_api.client() as client:
        response = client.get("/v1/cubes")
        _error(response, 401, "unauthenticated")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_keys_are_refused(live_api: LiveApi) -> None:
    real = live_api.keys["alice"]
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    for key in ("nonsense", forged, "mk_000000000000_" + "x" * 43):
        with live_api.client(headers={"X-API-Key": key}) as client:
            _error(client.get("/v1/cubes"), 401, "unauthenticated")


def test_scopes_are_enforced(live_api: LiveApi, alice_cube: str) -> None:
    with live_api.client("reader") as reader:
        assert alice_cube in reader.get("/v1/cubes").json()["cube_ids"]
        message = _error(
            reader.post("/v1/memories", json={"cube_id": alice_cube, "memory_content": "x"}),
            403,
            "insufficient_scope",
        )
        assert "'write'" in message
    with live_api.client("alice") as alice:
        _error(alice.post("/v1/users", json={"user_id": "mallory"}), 403, "insufficient_scope")
        _error(alice.get("/v1/scheduler/status"), 403, "insufficient_scope")


def test_add_then_search_get_update_delete(live_api: LiveApi, alice_cube: str) -> None:
    with live_api.client("alice") as client:
        found = client.post(
            "/v1/search", json={"query": "Where does my cat sleep?", "cube_ids": [alice_cube]}
        )
        assert found.status_code == 200, found.text
        part = found.json()["text_mem"][0]
        assert part["cube_id"] == alice_cube
        hit = next(m for m in part["memories"] if "piano" in m["memory"])

        one = client.get(f"/v1/cubes/{alice_cube}/memories/{hit['id']}")
        assert one.status_code == 200 and one.json()["id"] == hit["id"]

        extra = client.post(
            "/v1/memories",
            json={"cube_id": alice_cube, "memory_content": "Alice plays the cello on Sundays."},
        )
        new_id = extra.json()["added_ids"][0]
        patched = client.patch(
            f"/v1/cubes/{alice_cube}/memories/{new_id}",
            json={"memory": "Alice plays the viola on Sundays."},
        )
        assert patched.status_code == 200, patched.text
        after = client.get(f"/v1/cubes/{alice_cube}/memories/{new_id}").json()
        assert after["memory"] == "Alice plays the viola on Sundays."

        assert client.delete(f"/v1/cubes/{alice_cube}/memories/{new_id}").status_code == 200
        _error(client.get(f"/v1/cubes/{alice_cube}/memories/{new_id}"), 404, "not_found")
        nodes = client.get(f"/v1/cubes/{alice_cube}/memories").json()["text_mem"][0]
        assert new_id not in {n["id"] for n in nodes["memories"]["nodes"]}


def test_cross_tenant_access_is_refused(live_api: LiveApi, alice_cube: str) -> None:
    with live_api.client("bob") as bob:
        assert alice_cube not in bob.get("/v1/cubes").json()["cube_ids"]
        _error(
            bob.post("/v1/search", json={"query": "cat", "cube_ids": [alice_cube]}),
            403,
            "access_denied",
        )
        _error(bob.get(f"/v1/cubes/{alice_cube}/memories"), 403, "access_denied")
        _error(
            bob.post("/v1/memories", json={"cube_id": alice_cube, "memory_content": "pwned"}),
            403,
            "access_denied",
        )
        _error(bob.delete(f"/v1/cubes/{alice_cube}"), 403, "access_denied")
        # A body cannot name another user: unknown fields are rejected, not ignored.
        _error(
            bob.post(
                "/v1/search", json={"query": "cat", "cube_ids": [alice_cube], "user_id": "alice"}
            ),
            422,
            "invalid_request",
        )


def test_share_then_the_other_tenant_can_read(live_api: LiveApi) -> None:
    cube_id = f"shared_{uuid.uuid4().hex[:6]}"
    with live_api.client("alice") as alice, live_api.client("bob") as bob:
        assert alice.post("/v1/cubes", json={"cube_id": cube_id}).status_code == 201
        _error(alice.post("/v1/cubes", json={"cube_id": cube_id}), 409, "conflict")
        _error(bob.get(f"/v1/cubes/{cube_id}/memories"), 403, "access_denied")
        shared = alice.post(f"/v1/cubes/{cube_id}/share", json={"target_user_id": "bob"})
        assert shared.status_code == 200, shared.text
        assert bob.get(f"/v1/cubes/{cube_id}/memories").status_code == 200
        # sharing gives use, not ownership
        _error(bob.delete(f"/v1/cubes/{cube_id}"), 403, "access_denied")
        assert alice.delete(f"/v1/cubes/{cube_id}").status_code == 200
        _error(alice.get(f"/v1/cubes/{cube_id}/memories"), 404, "not_found")


def test_dump_and_load_through_the_tenant_folder(live_api: LiveApi, alice_cube: str) -> None:
    with live_api.client("alice") as client:
        before = client.get(f"/v1/cubes/{alice_cube}/memories").json()
        ids = {n["id"] for n in before["text_mem"][0]["memories"]["nodes"]}
        name = f"d{uuid.uuid4().hex[:6]}"
        dumped = client.post(f"/v1/cubes/{alice_cube}/dump", json={"name": name})
        assert dumped.status_code == 200, dumped.text
        _error(
            client.post(f"/v1/cubes/{alice_cube}/dump", json={"name": "../escape"}),
            422,
            "invalid_request",
        )
        loaded = client.post(f"/v1/cubes/{alice_cube}/load", json={"name": name})
        assert loaded.status_code == 200, loaded.text
        after = client.get(f"/v1/cubes/{alice_cube}/memories").json()
        assert {n["id"] for n in after["text_mem"][0]["memories"]["nodes"]} == ids
        _error(
            client.post(f"/v1/cubes/{alice_cube}/load", json={"name": "never_dumped"}),
            422,
            "invalid_dump",
        )


@pytest.mark.slow  # the worker loads and runs the chat model: about a minute on 2 cores
def test_chat_streams_server_sent_events(live_api: LiveApi, alice_cube: str) -> None:
    with (
        live_api.client("alice") as client,
        client.stream("POST", "/v1/chat/stream", json={"query": "What is my cat's name?"}) as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        body = "".join(r.iter_text())
    events = parse_sse(body)
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "done", names
    assert events[0][1]["mode"] == "chunked_complete_answer"
    chunks = [data for name, data in events if name == "chunk"]
    done = events[-1][1]
    assert done["chunks"] == len(chunks) >= 1
    assert "".join(c["text"] for c in chunks) == done["answer"]
    assert [c["index"] for c in chunks] == list(range(len(chunks)))


def test_chat_stream_reports_errors_as_events(live_api: LiveApi) -> None:
    # bob has no cube: the facade refuses, and the stream says so with the stable code.
    with live_api.client("bob") as client:
        response = client.post("/v1/chat/stream", json={"query": "hello"})
    events = parse_sse(response.text)
    assert [name for name, _ in events] == ["start", "error"]
    assert events[1][1]["error"]["code"] == "invalid_operation"


def test_rate_limit_answers_429_with_retry_after(live_api: LiveApi) -> None:
    with live_api.client("admin") as admin:
        created = admin.post(
            "/v1/api-keys",
            json={"user_id": "limited", "scopes": ["read"], "rate_limit_requests": 3},
        )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    with live_api.client(headers={"X-API-Key": key}) as client:
        statuses = [client.get("/v1/me").status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        limited = client.get("/v1/me")
    _error(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 61


def test_admin_manages_users_and_keys(live_api: LiveApi) -> None:
    with live_api.client("admin") as admin:
        user = admin.post("/v1/users", json={"user_id": "carol", "user_name": "Carol"})
        assert user.status_code == 201 and user.json()["user_name"] == "Carol"
        assert "carol" in {u["user_id"] for u in admin.get("/v1/users").json()}
        created = admin.post("/v1/api-keys", json={"user_id": "carol", "scopes": ["read"]}).json()
        listed = admin.get("/v1/api-keys", params={"user_id": "carol"}).json()
        assert [k["key_id"] for k in listed] == [created["key_id"]]
        assert all("key" not in k and "digest" not in k and "salt" not in k for k in listed)
        with live_api.client(headers={"X-API-Key": created["key"]}) as carol:
            me = carol.get("/v1/me").json()
            assert me["user_id"] == "carol" and me["scopes"] == ["read"]
            assert admin.delete(f"/v1/api-keys/{created['key_id']}").status_code == 200
            _error(carol.get("/v1/me"), 401, "unauthenticated")
        _error(admin.delete(f"/v1/api-keys/{created['key_id']}"), 404, "not_found")
        status = admin.get("/v1/scheduler/status").json()
        assert status["healthy"] is True and status["replicas"]


def test_messages_with_ids_and_times_are_cited_and_empty_turns_skipped(
    live_api: LiveApi, alice_cube: str
) -> None:
    when = "2023-05-08T13:56:00"
    with live_api.client("alice") as client:
        added = client.post(
            "/v1/memories",
            json={
                "cube_id": alice_cube,
                "messages": [
                    {"role": "user", "content": " ", "message_id": "r0"},
                    {
                        "role": "user",
                        "content": "My aunt Rosa grows lemons in Sevilla.",
                        "message_id": "r1",
                        "chat_time": when,
                    },
                ],
            },
        )
        assert added.status_code == 201, added.text
        assert added.json()["skipped_messages"] == 1 and added.json()["added_ids"]
        found = client.post(
            "/v1/search", json={"query": "Who grows lemons?", "cube_ids": [alice_cube]}
        ).json()
        cited = {
            (s.get("message_id"), s.get("chat_time"))
            for part in found["text_mem"]
            for m in part["memories"]
            for s in m["metadata"].get("sources") or []
        }
        assert ("r1", when) in cited
        message = _error(
            client.post(
                "/v1/memories",
                json={"cube_id": alice_cube, "messages": [{"role": "user", "content": "\n"}]},
            ),
            422,
            "invalid_input",
        )
        assert "nothing to store" in message
