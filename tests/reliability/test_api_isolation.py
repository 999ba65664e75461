"""Tenant isolation through the REST API, on a live daemon + worker.

A hypothesis rule-based machine (derandomised, bounded) drives the FastAPI app over HTTP with
each tenant's own API key: adds, reads, searches, updates, deletes, shares, dumps and loads on
its own cubes and on other tenants' cubes, plus another cube's memory ids named through the
tenant's own cube. Every attempt the tenant has no right to is refused (403 ``access_denied`` or
404 ``not_found``) and leaves the victim's cube exactly as the model says it is.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from memos.api.app import create_app
from memos.api.auth import ApiKeyStore
from memos.api.settings import ApiRuntime, ApiSettings
from tests.api.helpers import serve
from tests.reliability.support import PrivateStack, Services, mos_for, scheduler_config

pytestmark = pytest.mark.services

#: Tenants with a cube each; ``mallory`` is never given a share, so every run has refusals.
USERS = ("alice", "bob", "carol", "mallory")
GRANTEES = ("alice", "bob", "carol")
DENIED = {403: "access_denied", 404: "not_found"}


@dataclass
class LiveApi:
    """The served app, every tenant's key and cube, and where dumps land."""

    url: str
    keys: dict[str, str]
    cubes: dict[str, str]
    exports: Path
    registry: Any

    def client(self, user: str) -> httpx.Client:
        """An HTTP client carrying ``user``'s API key."""
        headers = {"Authorization": f"Bearer {self.keys[user]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=180)


@pytest.fixture(scope="module")
def api(private_stack: PrivateStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """uvicorn on 127.0.0.1 serving the app over its own daemon + worker (stopped by PID)."""
    logs = tmp_path_factory.mktemp("api_isolation")
    config = scheduler_config(private_stack, f"i{uuid.uuid4().hex[:8]}")
    services = Services(home=private_stack.home, config=config, logs=logs)
    try:
        services.worker("w1")
        services.daemon("d1")
        mos = mos_for(private_stack, services, event_timeout_s=120)
        runtime = ApiRuntime(
            mos=mos,
            redis=redis.Redis.from_url(config.redis_url),
            scheduler=config,
            data_home=private_stack.home,
        )
        try:
            store = ApiKeyStore(runtime.redis, prefix=config.prefix)
            keys = {}
            for user in USERS:
                mos.create_user(user)
                keys[user] = store.create(user, ("read", "write"))[0]
            exports = logs / "exports"
            app_settings = ApiSettings(exports_dir=str(exports), rate_limit_requests=100_000)
            with serve(create_app(runtime, app_settings)) as url:
                live = LiveApi(url, keys, {}, exports, mos.registry)
                for user in USERS:
                    cube = f"{user}_{uuid.uuid4().hex[:6]}"
                    with live.client(user) as client:
                        made = client.post("/v1/cubes", json={"cube_id": cube})
                    assert made.status_code == 201, made.text
                    live.cubes[user] = cube
                yield live
        finally:
            runtime.close()
    finally:
        services.stop_all()


#: Refusals seen by the randomised run (it must have tried something it may not do).
REFUSED: list[int] = []


def assert_denied(response: httpx.Response) -> None:
    """A refusal with the API's structured error (never a 2xx, never a 5xx)."""
    assert response.status_code in DENIED, (response.status_code, response.text)
    REFUSED.append(response.status_code)
    assert response.json()["error"]["code"] == DENIED[response.status_code], response.text


def cube_texts(client: httpx.Client, cube: str) -> dict[str, str]:
    """``{id: memory}`` of a cube, read with a key that may read it."""
    response = client.get(f"/v1/cubes/{cube}/memories")
    assert response.status_code == 200, response.text
    nodes = response.json()["text_mem"][0]["memories"]["nodes"]
    return {node["id"]: node["memory"] for node in nodes}


class ApiIsolation(RuleBasedStateMachine):
    """Random cross-tenant calls through HTTP; a model of each cube's memories and shares."""

    api: LiveApi

    def __init__(self) -> None:
        super().__init__()
        self.clients = {user: self.api.client(user) for user in USERS}
        self.owned: dict[str, dict[str, str]] = {}
        self.shared: set[tuple[str, str]] = set()

    def teardown(self) -> None:
        for client in self.clients.values():
            client.close()

    @initialize()
    def start(self) -> None:
        for user, cube in self.api.cubes.items():
            cleared = self.clients[user].delete(f"/v1/cubes/{cube}/memories")
            assert cleared.status_code == 200, cleared.text
            self.owned[cube] = {}
        # Shares persist across examples (there is no unshare): start from the registry.
        self.shared = {
            (cube, user)
            for owner, cube in self.api.cubes.items()
            for user in USERS
            if user != owner and self.api.registry.can_access(user, cube)
        }

    def allowed(self, user: str, cube: str) -> bool:
        return self.api.cubes[user] == cube or (cube, user) in self.shared

    def check_unchanged(self, cube: str) -> None:
        """The cube holds exactly what the model says (read with its owner's key)."""
        owner = next(u for u, c in self.api.cubes.items() if c == cube)
        assert cube_texts(self.clients[owner], cube) == self.owned[cube]

    @rule(actor=st.sampled_from(USERS), owner=st.sampled_from(USERS), n=st.integers(0, 99))
    def add(self, actor: str, owner: str, n: int) -> None:
        cube = self.api.cubes[owner]
        text = f"{owner} fact {n} {uuid.uuid4().hex[:6]}"
        response = self.clients[actor].post(
            "/v1/memories", json={"cube_id": cube, "memory_content": text}
        )
        if self.allowed(actor, cube):
            assert response.status_code == 201, response.text
            (memory_id,) = response.json()["added_ids"]
            self.owned[cube][memory_id] = text
        else:
            assert_denied(response)
            self.check_unchanged(cube)

    @rule(actor=st.sampled_from(USERS), owner=st.sampled_from(USERS), data=st.data())
    def read_and_search(self, actor: str, owner: str, data: st.DataObject) -> None:
        cube = self.api.cubes[owner]
        client = self.clients[actor]
        found = client.post("/v1/search", json={"query": "fact", "cube_ids": [cube], "top_k": 50})
        if self.allowed(actor, cube):
            assert cube_texts(client, cube) == self.owned[cube]
            assert found.status_code == 200, found.text
            for part in found.json()["text_mem"]:
                assert {m["id"] for m in part["memories"]} <= set(self.owned[part["cube_id"]])
            return
        assert_denied(client.get(f"/v1/cubes/{cube}/memories"))
        assert_denied(found)
        if self.owned[cube]:
            memory_id = data.draw(st.sampled_from(sorted(self.owned[cube])))
            assert_denied(client.get(f"/v1/cubes/{cube}/memories/{memory_id}"))
        # The tenant-wide views hold only cubes the tenant may read.
        everything = client.get("/v1/memories")
        assert everything.status_code == 200, everything.text
        assert cube not in {part["cube_id"] for part in everything.json()["text_mem"]}
        unscoped = client.post("/v1/search", json={"query": "fact", "top_k": 50})
        assert unscoped.status_code == 200, unscoped.text
        leaked = {m["id"] for p in unscoped.json()["text_mem"] for m in p["memories"]}
        assert not leaked & set(self.owned[cube])
        listed = client.get("/v1/cubes")
        assert listed.status_code == 200 and cube not in listed.json()["cube_ids"]

    @rule(actor=st.sampled_from(USERS), victim=st.sampled_from(USERS), data=st.data())
    def mutate_other_cube(self, actor: str, victim: str, data: st.DataObject) -> None:
        """Update/delete another cube's memory by its own path, and through the actor's cube."""
        cube = self.api.cubes[victim]
        own = self.api.cubes[actor]
        if cube == own or not self.owned[cube]:
            return
        memory_id = data.draw(st.sampled_from(sorted(self.owned[cube])))
        client = self.clients[actor]
        # Through the actor's own cube: the id is not there, whatever the actor's rights.
        assert_denied(client.get(f"/v1/cubes/{own}/memories/{memory_id}"))
        assert_denied(client.patch(f"/v1/cubes/{own}/memories/{memory_id}", json={"memory": "x"}))
        client.delete(f"/v1/cubes/{own}/memories/{memory_id}")
        if not self.allowed(actor, cube):
            path = f"/v1/cubes/{cube}/memories/{memory_id}"
            assert_denied(client.patch(path, json={"memory": "pwned"}))
            assert_denied(client.patch(path, json={"metadata": {"tags": ["pwned"]}}))
            assert_denied(client.delete(path))
            assert_denied(client.delete(f"/v1/cubes/{cube}/memories"))
            assert_denied(client.delete(f"/v1/cubes/{cube}"))
        self.check_unchanged(cube)

    @rule(actor=st.sampled_from(USERS), owner=st.sampled_from(USERS))
    def update_allowed(self, actor: str, owner: str) -> None:
        cube = self.api.cubes[owner]
        if not self.allowed(actor, cube) or not self.owned[cube]:
            return
        memory_id = sorted(self.owned[cube])[0]
        text = f"{owner} fact revised {uuid.uuid4().hex[:6]}"
        path = f"/v1/cubes/{cube}/memories/{memory_id}"
        response = self.clients[actor].patch(path, json={"memory": text})
        assert response.status_code == 200, response.text
        self.owned[cube][memory_id] = text

    @rule(
        actor=st.sampled_from(USERS), owner=st.sampled_from(USERS), grantee=st.sampled_from(USERS)
    )
    def share(self, actor: str, owner: str, grantee: str) -> None:
        cube = self.api.cubes[owner]
        if grantee == owner:
            return
        response = self.clients[actor].post(
            f"/v1/cubes/{cube}/share", json={"target_user_id": grantee}
        )
        if not self.allowed(actor, cube):
            assert_denied(response)
            assert self.api.registry.can_access(grantee, cube) == self.allowed(grantee, cube)
        elif grantee in GRANTEES:
            assert response.status_code == 200, response.text
            self.shared.add((cube, grantee))

    @rule(actor=st.sampled_from(USERS), owner=st.sampled_from(USERS))
    def dump_and_load(self, actor: str, owner: str) -> None:
        cube = self.api.cubes[owner]
        client = self.clients[actor]
        name = uuid.uuid4().hex[:10]
        target = self.api.exports / f"u_{actor}" / name
        dumped = client.post(f"/v1/cubes/{cube}/dump", json={"name": name})
        if self.allowed(actor, cube):
            assert dumped.status_code == 200, dumped.text
            assert target.is_dir()
            return
        assert_denied(dumped)
        assert not target.exists()
        # A dump of the actor's own cube loaded over the victim's: refused, nothing replaced.
        own = client.post(f"/v1/cubes/{self.api.cubes[actor]}/dump", json={"name": name})
        assert own.status_code == 200, own.text
        assert_denied(client.post(f"/v1/cubes/{cube}/load", json={"name": name}))
        self.check_unchanged(cube)


def test_tenant_isolation_through_the_rest_api(api: LiveApi) -> None:
    ApiIsolation.api = api
    ApiIsolation.TestCase.settings = settings(
        max_examples=3,
        stateful_step_count=12,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    REFUSED.clear()
    ApiIsolation.TestCase().runTest()
    # The run did try foreign cubes (a machine that never did would prove nothing).
    assert 403 in REFUSED, sorted(set(REFUSED))


def test_foreign_memory_id_through_own_cube_is_not_found(api: LiveApi) -> None:
    victim = api.cubes["alice"]
    own = api.cubes["mallory"]
    with api.client("alice") as alice, api.client("mallory") as mallory:
        added = alice.post("/v1/memories", json={"cube_id": victim, "memory_content": "alice pin"})
        assert added.status_code == 201, added.text
        (memory_id,) = added.json()["added_ids"]
        before = cube_texts(alice, victim)
        path = f"/v1/cubes/{own}/memories/{memory_id}"
        for response in (
            mallory.get(path),
            mallory.patch(path, json={"memory": "pwned"}),
            mallory.patch(path, json={"metadata": {"tags": ["pwned"]}}),
        ):
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "not_found"
        mallory.delete(path)
        assert cube_texts(alice, victim) == before
        assert before[memory_id] == "alice pin"


def test_forged_or_missing_keys_are_refused(api: LiveApi) -> None:
    cube = api.cubes["alice"]
    with httpx.Client(base_url=api.url, timeout=60) as anonymous:
        assert anonymous.get(f"/v1/cubes/{cube}/memories").status_code == 401
        key_id = api.keys["alice"].split("_")[1]
        forged = f"mk_{key_id}_{'A' * 43}"
        response = anonymous.get(
            f"/v1/cubes/{cube}/memories", headers={"Authorization": f"Bearer {forged}"}
        )
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "unauthenticated"
