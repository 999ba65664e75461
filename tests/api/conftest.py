"""One real API per test package: embedded stack, daemon + worker, uvicorn on 127.0.0.1."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from memos.api.app import create_app
from memos.api.auth import ApiKeyStore
from memos.api.settings import ApiRuntime, ApiSettings, build_runtime
from memos.configs.mem_os import MOSConfig
from tests.api.helpers import serve
from tests.examples.conftest import stop_services


@dataclass
class LiveApi:
    """The running API and keys of its tenants."""

    url: str
    runtime: ApiRuntime
    keys: dict[str, str]

    def client(self, who: str | None = None, headers: dict[str, str] | None = None) -> httpx.Client:
        """An httpx client with ``who``'s key (or ``headers``; no key when both are None)."""
        sent = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers={**sent, **(headers or {})}, timeout=240)


@pytest.fixture(scope="package")
def api_prefix() -> str:
    return f"api{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="package")
def runtime(embedded_stack: object, memos_home: Path, api_prefix: str) -> Iterator[ApiRuntime]:
    """The API's MOS on the session stack, with its own daemon + worker (stopped by PID)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("MEMOS_HOME", str(memos_home))
    config = MOSConfig.model_validate(
        {
            "user_id": "root",
            "embedded": {"home": str(memos_home)},
            "scheduler": {"prefix": api_prefix, "block_ms": 200},
            "event_timeout_s": 240,
        }
    )
    built = build_runtime(config)
    try:
        yield built
    finally:
        built.close()
        stop_services(memos_home, api_prefix)
        patch.undo()


@pytest.fixture(scope="package")
def live_api(runtime: ApiRuntime, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """uvicorn serving the app, plus keys: admin, alice/bob (read,write), reader (read)."""
    store = ApiKeyStore(runtime.redis, prefix=runtime.scheduler.prefix)
    keys: dict[str, str] = {}
    for who, user, scopes in (
        ("admin", "root", ("admin",)),
        ("alice", "alice", ("read", "write")),
        ("bob", "bob", ("read", "write")),
        ("reader", "alice", ("read",)),
        ("st", "st_user", ("read", "write")),
    ):
        runtime.mos.registry.create_user(user)
        keys[who] = store.create(user, scopes)[0]
    settings = ApiSettings(exports_dir=str(tmp_path_factory.mktemp("exports")), chat_chunk_chars=8)
    with serve(create_app(runtime, settings)) as url:
        yield LiveApi(url=url, runtime=runtime, keys=keys)


@pytest.fixture(scope="package")
def alice_cube(live_api: LiveApi) -> str:
    """A tree cube of alice's holding one conversation about her cat."""
    cube_id = f"alice_{uuid.uuid4().hex[:6]}"
    with live_api.client("alice") as client:
        created = client.post("/v1/cubes", json={"cube_id": cube_id})
        assert created.status_code == 201, created.text
        added = client.post(
            "/v1/memories",
            json={
                "cube_id": cube_id,
                "messages": [
                    {"role": "user", "content": "My cat Miso loves sleeping on the piano."},
                    {"role": "assistant", "content": "That sounds adorable."},
                ],
            },
        )
        assert added.status_code == 201, added.text
        assert added.json()["added_ids"]
    return cube_id


def new_cube(live_api: LiveApi, who: str, prefix: str) -> str:
    """Create an empty tree cube for ``who`` through the API; its id."""
    cube_id = f"{prefix}_{uuid.uuid4().hex[:6]}"
    with live_api.client(who) as client:
        created = client.post("/v1/cubes", json={"cube_id": cube_id})
        assert created.status_code == 201, created.text
    return cube_id


@pytest.fixture(scope="package")
def bob_cube(live_api: LiveApi) -> str:
    """An empty cube of bob's (alice must never see it)."""
    return new_cube(live_api, "bob", "bob")


@dataclass
class BigCube:
    """A cube of bob's with thousands of memories written straight into the store."""

    cube_id: str
    ids: list[str]


@pytest.fixture(scope="package")
def big_cube(live_api: LiveApi) -> BigCube:
    """3,000 memories (tiers in turn; ``MEMOS_UI_BIG_CUBE`` sets another count) and a hub
    linked to the 250 before it."""
    import os

    from tests.api.ui_helpers import insert_memories

    count = int(os.environ.get("MEMOS_UI_BIG_CUBE", "3000"))

    cube_id = f"big_{uuid.uuid4().hex[:6]}"
    with live_api.client("bob") as client:
        created = client.post("/v1/cubes", json={"cube_id": cube_id})
        assert created.status_code == 201, created.text
    return BigCube(cube_id, insert_memories(cube_id, "bob", count, star=250))
