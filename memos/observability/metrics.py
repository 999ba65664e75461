"""Prometheus metrics of the daemon, the workers and the memory handlers, and their endpoint.

Metric objects are created on first use (:func:`get_metrics`), not at import, because a Celery
prefork worker must choose prometheus-client's multiprocess mode (:func:`enable_multiprocess`)
before any metric exists: its handlers run in child processes, and the parent's endpoint adds up
what every child wrote to the shared directory.

Names:

* ``memos_events_total{type,outcome}``: daemon outcomes (processed, failed, retried,
  dead_lettered, malformed, reclaimed, expired).
* ``memos_event_latency_seconds{type}``: publish to ack (end to end, daemon side).
* ``memos_task_duration_seconds{type}``: one attempt, dispatch to outcome (daemon side).
* ``memos_handler_duration_seconds{type,outcome}``: the handler call (worker side).
* ``memos_pending_entries``, ``memos_buffered_events``, ``memos_in_flight_events``,
  ``memos_stream_length``, ``memos_dead_letters``: gauges refreshed with each heartbeat.
* ``memos_stream_trimmed_total``: finished entries removed from the event stream.
* ``memos_search_latency_seconds{backend}``: observed by the search handlers
  (:func:`search_timer`).
* ``memos_kv_cache_lookups_total{result}`` and ``memos_kv_cache_hit_ratio``
  (:func:`record_kv_lookup`).
* ``memos_part_restarts_total{part,reason}``: restarts of an embedded part (worker, daemon,
  Redis, ArcadeDB) by the supervisor; ``memos_part_gave_up{part}`` is 1 while the supervisor
  has stopped restarting a part that crash-looped (see docs/supervision.md).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from memos.errors import ConfigError

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY_BUCKETS_S = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)


@dataclass(frozen=True)
class Metrics:
    """Every metric of this process (see the module docstring for names and labels)."""

    registry: Any
    events_total: Any
    event_latency_s: Any
    task_duration_s: Any
    handler_duration_s: Any
    pending_entries: Any
    buffered_events: Any
    in_flight_events: Any
    stream_length: Any
    dead_letters: Any
    stream_trimmed_total: Any
    search_latency_s: Any
    kv_lookups_total: Any
    kv_hit_ratio: Any
    part_restarts_total: Any
    part_gave_up: Any


_lock = threading.Lock()
_metrics: Metrics | None = None
_kv_counts = {"hit": 0, "miss": 0}


def enable_multiprocess(directory: str) -> None:
    """Use prometheus-client's multiprocess mode (call before any metric is created)."""
    with _lock:
        if _metrics is not None:
            raise ConfigError(
                "metrics already exist in this process; enable multiprocess mode before the "
                "first event is handled (the worker entry point does this)"
            )
        os.makedirs(directory, exist_ok=True)
        os.environ[MULTIPROC_ENV] = directory
        # prometheus-client picks its value class when prometheus_client.values is imported.
        import prometheus_client.values as values

        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def multiprocess_enabled() -> bool:
    """True when metrics of this process are shared through a multiprocess directory."""
    return bool(os.environ.get(MULTIPROC_ENV))


def get_metrics() -> Metrics:
    """This process's metrics, created on the first call."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = _create()
        return _metrics


def _create() -> Metrics:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    registry = CollectorRegistry(auto_describe=True)
    buckets = _LATENCY_BUCKETS_S

    def gauge(name: str, doc: str) -> Any:
        # In multiprocess mode a gauge of the daemon (one process) keeps its latest value.
        return Gauge(name, doc, registry=registry, multiprocess_mode="mostrecent")

    return Metrics(
        registry=registry,
        events_total=Counter(
            "memos_events_total",
            "Events finished or retried by the daemon, by type and outcome",
            ["type", "outcome"],
            registry=registry,
        ),
        event_latency_s=Histogram(
            "memos_event_latency_seconds",
            "Publish to acknowledgement of an event",
            ["type"],
            buckets=buckets,
            registry=registry,
        ),
        task_duration_s=Histogram(
            "memos_task_duration_seconds",
            "One attempt, from dispatch to its outcome, seen by the daemon",
            ["type"],
            buckets=buckets,
            registry=registry,
        ),
        handler_duration_s=Histogram(
            "memos_handler_duration_seconds",
            "Handler calls on a worker (or inline in the daemon), by type and outcome",
            ["type", "outcome"],
            buckets=buckets,
            registry=registry,
        ),
        pending_entries=gauge("memos_pending_entries", "Entries delivered but not acked"),
        buffered_events=gauge("memos_buffered_events", "Events read ahead by this replica"),
        in_flight_events=gauge("memos_in_flight_events", "Events executing for this replica"),
        stream_length=gauge("memos_stream_length", "Entries in the event stream"),
        dead_letters=gauge("memos_dead_letters", "Entries in the dead-letter stream"),
        stream_trimmed_total=Counter(
            "memos_stream_trimmed_total",
            "Finished entries trimmed from the event stream",
            registry=registry,
        ),
        search_latency_s=Histogram(
            "memos_search_latency_seconds",
            "Memory search latency observed by the search handlers",
            ["backend"],
            buckets=buckets,
            registry=registry,
        ),
        kv_lookups_total=Counter(
            "memos_kv_cache_lookups_total",
            "KV-cache (activation memory) lookups by result",
            ["result"],
            registry=registry,
        ),
        kv_hit_ratio=gauge("memos_kv_cache_hit_ratio", "KV-cache hits / lookups in this process"),
        part_restarts_total=Counter(
            "memos_part_restarts_total",
            "Restarts of an embedded part by the supervisor, by part and exit reason",
            ["part", "reason"],
            registry=registry,
        ),
        part_gave_up=Gauge(
            "memos_part_gave_up",
            "1 while the supervisor no longer restarts a crash-looping part",
            ["part"],
            registry=registry,
            multiprocess_mode="mostrecent",
        ),
    )


def observe_search_latency(seconds: float, *, backend: str = "tree") -> None:
    """Record one search's latency (for handlers that time the search themselves)."""
    get_metrics().search_latency_s.labels(backend=backend).observe(seconds)


@contextlib.contextmanager
def search_timer(backend: str = "tree") -> Iterator[None]:
    """Time a block as one search: ``with search_timer("tree"): results = mem.search(...)``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        observe_search_latency(time.perf_counter() - started, backend=backend)


def record_kv_lookup(hit: bool) -> None:
    """Count a KV-cache lookup and refresh the hit-ratio gauge."""
    m = get_metrics()
    result = "hit" if hit else "miss"
    m.kv_lookups_total.labels(result=result).inc()
    with _lock:
        _kv_counts[result] += 1
        total = _kv_counts["hit"] + _kv_counts["miss"]
        ratio = _kv_counts["hit"] / total
    m.kv_hit_ratio.set(ratio)


class MetricsServer:
    """The ``/metrics`` HTTP endpoint of this process; :meth:`close` stops it."""

    def __init__(self, host: str, port: int) -> None:
        from prometheus_client import CollectorRegistry, start_http_server

        registry = get_metrics().registry
        if multiprocess_enabled():
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        try:
            self._httpd, self._thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve metrics on {host}:{port}: {exc}; choose another metrics port"
            ) from exc
        self.host = host
        self.port = int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Where the metrics are scraped."""
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def mark_process_dead(pid: int) -> None:
    """Drop a dead worker child's live gauges (multiprocess mode only)."""
    if multiprocess_enabled():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
