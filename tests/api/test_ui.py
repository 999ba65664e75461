"""The web inspector over real HTTP: sessions, tenant isolation, escaping, CSRF, errors, paging."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from memos.mem_scheduler.dlq import DeadLetterQueue
from tests.api.conftest import BigCube, LiveApi
from tests.api.ui_helpers import add_dead_letter, copies_of, csrf_of, login, wait_for

pytestmark = pytest.mark.services

XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


@pytest.fixture(scope="module")
def alice_ui(live_api: LiveApi) -> Iterator[httpx.Client]:
    with login(live_api.url, live_api.keys["alice"]) as client:
        yield client


@pytest.fixture(scope="module")
def admin_ui(live_api: LiveApi) -> Iterator[httpx.Client]:
    with login(live_api.url, live_api.keys["admin"]) as client:
        yield client


def _no_trace(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text


def test_the_session_cookie_is_httponly_and_strict(live_api: LiveApi) -> None:
    with httpx.Client(base_url=live_api.url) as client:
        form = client.get("/ui/login")
        done = client.post(
            "/ui/login", data={"api_key": live_api.keys["alice"], "csrf": csrf_of(form.text)}
        )
    cookie = next(
        v for k, v in done.headers.multi_items() if k == "set-cookie" and "memos_ui_session" in v
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert live_api.keys["alice"] not in cookie  # the key itself never goes into the cookie


def test_pages_need_a_session(live_api: LiveApi) -> None:
    with httpx.Client(base_url=live_api.url) as client:
        page = client.get("/ui/cubes")
        assert page.status_code == 303 and page.headers["location"] == "/ui/login"
        feed = client.get("/ui/api/metrics")
        assert feed.status_code == 401 and feed.json()["error"]["code"] == "unauthenticated"


def test_a_wrong_key_is_refused_without_a_trace(live_api: LiveApi) -> None:
    with httpx.Client(base_url=live_api.url) as client:
        form = client.get("/ui/login")
        for key in ("nonsense", "mk_000000000000_" + "x" * 43, "<script>x</script>"):
            done = client.post("/ui/login", data={"api_key": key, "csrf": csrf_of(form.text)})
            assert done.status_code == 401
            assert "memos_ui_session" not in done.headers.get("set-cookie", "")
            assert 'id="login-error"' in done.text and "<script>x" not in done.text
            _no_trace(done.text)


def test_login_without_the_csrf_token_is_refused(live_api: LiveApi) -> None:
    with httpx.Client(base_url=live_api.url) as client:
        client.get("/ui/login")
        done = client.post("/ui/login", data={"api_key": live_api.keys["alice"]})
        assert done.status_code == 403 and "csrf_failed" in done.text
        forged = client.post("/ui/login", data={"api_key": live_api.keys["alice"], "csrf": "x"})
        assert forged.status_code == 403


def test_a_tenant_sees_only_its_own_cubes(
    alice_ui: httpx.Client, alice_cube: str, bob_cube: str
) -> None:
    page = alice_ui.get("/ui/cubes")
    assert page.status_code == 200
    assert f'data-cube="{alice_cube}"' in page.text and bob_cube not in page.text
    assert 'data-user="bob"' not in page.text
    # and cannot open another tenant's cube by its URL either
    denied = alice_ui.get(f"/ui/cubes/{bob_cube}")
    assert denied.status_code == 403 and "access_denied" in denied.text
    graph = alice_ui.get(f"/ui/api/cubes/{bob_cube}/graph/x")
    assert graph.status_code == 403 and graph.json()["error"]["code"] == "access_denied"
    # the bus and the stack are for admins
    for path in ("/ui/bus", "/ui/system", "/ui/api/metrics"):
        assert alice_ui.get(path).status_code == 403


def test_an_admin_sees_every_tenant(admin_ui: httpx.Client, alice_cube: str, bob_cube: str) -> None:
    page = admin_ui.get("/ui/cubes")
    assert f'data-cube="{alice_cube}"' in page.text and f'data-cube="{bob_cube}"' in page.text
    assert admin_ui.get(f"/ui/cubes/{bob_cube}").status_code == 200
    assert admin_ui.get("/ui/bus").status_code == 200
    system = admin_ui.get("/ui/system")
    assert system.status_code == 200 and 'data-part="redis"' in system.text
    sample = admin_ui.get("/ui/api/metrics").json()
    assert {"stream_length", "pending", "dead_letters", "processed"} <= set(sample)


def test_memory_text_is_escaped(live_api: LiveApi, alice_ui: httpx.Client, alice_cube: str) -> None:
    with live_api.client("alice") as client:
        added = client.post("/v1/memories", json={"cube_id": alice_cube, "memory_content": XSS})
        assert added.status_code == 201, added.text
        memory_id = added.json()["added_ids"][0]
    page = alice_ui.get(f"/ui/cubes/{alice_cube}")
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page.text
    assert "<script>window.__pwned" not in page.text and "<img src=x" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    detail = alice_ui.get(f"/ui/cubes/{alice_cube}/memories/{memory_id}")
    assert detail.status_code == 200 and "<script>window.__pwned" not in detail.text


def test_bad_input_gets_clear_errors(alice_ui: httpx.Client, alice_cube: str) -> None:
    for path, status in (
        (f"/ui/cubes/{alice_cube}?limit=100000", 422),
        (f"/ui/cubes/{alice_cube}?tier=Nope", 422),
        (f"/ui/cubes/{alice_cube}?validity=sometimes", 422),
        (f"/ui/cubes/{alice_cube}?node_type=" + "x" * 65, 422),
        (f"/ui/cubes/{alice_cube}/search?q=", 422),
        (f"/ui/cubes/{alice_cube}/search?q=x&mode=slow", 422),
        ("/ui/cubes/no_such_cube_here", 404),
        (f"/ui/cubes/{alice_cube}/memories/not-a-memory", 404),
        ("/ui/cubes/%3Cscript%3E", 422),
        ("/ui/nowhere", 404),
    ):
        page = alice_ui.get(path)
        assert page.status_code == status, (path, page.text)
        assert 'id="error-message"' in page.text
        assert "<script>" not in page.text
        _no_trace(page.text)


def test_actions_need_the_csrf_token_and_drop_is_confirmed(
    live_api: LiveApi, admin_ui: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    dlq_id = add_dead_letter(live_api.runtime, "alice", "nowhere", "csrf probe")
    for data in ({}, {"csrf": "wrong"}, {"confirm": "yes"}):
        done = admin_ui.post(f"/ui/bus/dlq/{dlq_id}/drop", data=data)
        assert done.status_code == 403 and "csrf_failed" in done.text
    assert dlq_id in admin_ui.get("/ui/bus").text  # nothing happened
    assert admin_ui.post("/ui/logout").status_code == 403
    token = csrf_of(admin_ui.get("/ui/bus").text)
    asked = admin_ui.post(f"/ui/bus/dlq/{dlq_id}/drop", data={"csrf": token})
    assert asked.status_code == 200 and "Yes, drop" in asked.text
    assert dlq_id in admin_ui.get("/ui/bus").text  # not before the confirmation
    with caplog.at_level(logging.INFO, logger="memos.audit"):
        done = admin_ui.post(f"/ui/bus/dlq/{dlq_id}/drop", data={"csrf": token, "confirm": "yes"})
    assert done.status_code == 303
    assert f'data-dlq="{dlq_id}"' not in admin_ui.get("/ui/bus").text
    assert any(f"dropped dead letter {dlq_id}" in r.getMessage() for r in caplog.records)


def test_a_tenant_cannot_retry_dead_letters(
    live_api: LiveApi, alice_ui: httpx.Client, alice_cube: str
) -> None:
    dlq_id = add_dead_letter(live_api.runtime, "alice", alice_cube, "tenant probe")
    token = csrf_of(alice_ui.get("/ui/cubes").text)
    done = alice_ui.post(f"/ui/bus/dlq/{dlq_id}/retry", data={"csrf": token, "confirm": "yes"})
    assert done.status_code == 403 and "insufficient_scope" in done.text
    dlq = DeadLetterQueue(live_api.runtime.scheduler, live_api.runtime.redis)
    assert dlq.get(dlq_id).dlq_id == dlq_id
    assert dlq.drop(dlq_id)


def test_retry_is_confirmed_audited_and_applied_once(
    live_api: LiveApi,
    admin_ui: httpx.Client,
    alice_cube: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    text = f"retried memory {uuid.uuid4().hex[:8]}"
    dlq_id = add_dead_letter(live_api.runtime, "alice", alice_cube, text)
    bus = admin_ui.get("/ui/bus")
    assert f'data-dlq="{dlq_id}"' in bus.text and "TimeoutError" in bus.text
    token = csrf_of(bus.text)
    confirm = admin_ui.post(f"/ui/bus/dlq/{dlq_id}/retry", data={"csrf": token})
    assert confirm.status_code == 200 and 'id="confirm-yes"' in confirm.text
    with caplog.at_level(logging.INFO, logger="memos.audit"):
        done = admin_ui.post(f"/ui/bus/dlq/{dlq_id}/retry", data={"csrf": token, "confirm": "yes"})
    assert done.status_code == 303
    audit = [r.getMessage() for r in caplog.records if r.name == "memos.audit"]
    assert any("retried dead letter " + dlq_id in m for m in audit), audit

    def copies() -> int:
        return copies_of(live_api, "alice", alice_cube, text)

    wait_for(copies, what="the retried memory")
    # Retrying the same entry again is refused (it left the DLQ), and nothing is added twice.
    again = admin_ui.post(f"/ui/bus/dlq/{dlq_id}/retry", data={"csrf": token, "confirm": "yes"})
    assert again.status_code == 404 and "no dead letter" in again.text
    time.sleep(1.0)
    assert copies() == 1


def test_paging_stays_fast_at_a_large_cube(admin_ui: httpx.Client, big_cube: BigCube) -> None:
    cube_id, count = big_cube.cube_id, len(big_cube.ids)
    started = time.perf_counter()
    first = admin_ui.get(f"/ui/cubes/{cube_id}?limit=100")  # builds the worker's index
    print(f"first page of {count} (index build): {time.perf_counter() - started:.3f} s")
    assert first.status_code == 200 and f"{count} memories" in first.text
    timings = {}
    seen: set[str] = set()
    for offset in (0, 100, count // 2, count - 100):
        started = time.perf_counter()
        page = admin_ui.get(f"/ui/cubes/{cube_id}?limit=100&offset={offset}")
        timings[offset] = time.perf_counter() - started
        assert page.status_code == 200
        rows = re.findall(r'class="memory-row" data-id="([^"]+)"', page.text)
        assert len(rows) == 100 and not seen & set(rows)  # pages do not overlap
        seen |= set(rows)
        newest = count - 1 - offset
        assert f"bulk memory number {newest}<" in page.text  # newest first
        assert rows[0] == big_cube.ids[newest]
    tier = admin_ui.get(f"/ui/cubes/{cube_id}?tier=UserMemory&limit=10")
    assert f"{count // 3} memories" in tier.text
    events = admin_ui.get(f"/ui/cubes/{cube_id}?node_type=event&validity=valid&limit=10")
    assert f"{(count + 9) // 10} memories" in events.text
    newest_event = (count - 1) // 10 * 10
    assert re.findall(r'data-id="([^"]+)"', events.text)[0] == big_cube.ids[newest_event]
    assert f'<option value="event" selected>event ({(count + 9) // 10})</option>' in events.text
    assert "0 memories" in admin_ui.get(f"/ui/cubes/{cube_id}?validity=ended").text
    row = re.search(rf'data-cube="{cube_id}">(.*?)</tr>', admin_ui.get("/ui/cubes").text, re.S)
    assert row and f'class="num total">{count}<' in row.group(1)
    print(f"pages of 100 at offsets {list(timings)}: {[round(t, 3) for t in timings.values()]} s")
    # The last page costs what the first does: no offset scan, no sort in the store.
    assert max(timings.values()) < 2.0, timings


def test_a_wide_neighbourhood_is_capped(admin_ui: httpx.Client, big_cube: BigCube) -> None:
    hub = big_cube.ids[-1]
    url = f"/ui/api/cubes/{big_cube.cube_id}/graph/{hub}"
    data = admin_ui.get(url, params={"hops": 1, "max_nodes": 200}).json()
    assert data["center"] == hub and len(data["nodes"]) == 200 and data["truncated"]
    ids = {n["id"] for n in data["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in data["edges"])
    assert len(data["edges"]) == 199 and {e["type"] for e in data["edges"]} == {"RELATE_TO"}
    small = admin_ui.get(url, params={"hops": 1, "max_nodes": 300}).json()
    assert len(small["nodes"]) == 251 and not small["truncated"]
    bad = admin_ui.get(url, params={"hops": 9})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
