"""Give a dead worker's tasks back to their queues at once, instead of after the visibility timeout.

With late acks, a task a worker had taken stays in kombu's ``unacked`` hash until it is acked.
When the worker is SIGKILLed (out of memory, for instance) nobody acks it, and kombu puts it back
only once it is older than the broker's ``visibility_timeout`` (minutes). The embedded supervisor
knows the worker is dead, and in the embedded deployment it is the only worker of its bus prefix,
so every unacked task of that prefix was the dead worker's: :func:`restore_unacked` puts them all
back before the new worker starts, and the daemon's waiting attempt gets its outcome from the
new worker in seconds. A task that had already committed its effect is a no-op the second time
(see :mod:`memos.mem_scheduler.idempotency`).

Never call this while another worker of the same prefix is alive: its tasks in progress would
run a second time (harmless to the effects, but wasted work).

A task the worker had taken off its queue but not yet recorded as unacked, or an outcome it
never pushed, cannot be restored: :func:`announce_lost_worker` tells every daemon replica the
moment of the loss, and each sends again at once the attempts it sent before it.
"""

from __future__ import annotations

import logging
import time

import redis

from memos.mem_scheduler.config import SchedulerConfig

logger = logging.getLogger(__name__)

_RESTORE_BATCH = 1000


def restore_unacked(config: SchedulerConfig) -> int:
    """Put every unacked Celery task of ``config``'s prefix back on its queue; how many."""
    from memos.workers.app import create_app

    app = create_app(config)
    options = dict(app.conf.broker_transport_options or {})
    # Every unacked task is older than "now minus a zero timeout": restore_visible takes them all.
    options["visibility_timeout"] = 0
    app.conf.broker_transport_options = options
    restored = 0
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        qos = channel.qos
        client = channel.client
        # HLEN, not ZCARD: kombu's key-prefixing client prefixes HLEN but not ZCARD.
        while True:
            before = int(client.hlen(qos.unacked_key))
            if before == 0:
                break
            qos.restore_visible(num=_RESTORE_BATCH, interval=1)
            after = int(client.hlen(qos.unacked_key))
            restored += before - after
            if after >= before:
                break  # another process holds kombu's restore mutex; it restores them
    if restored:
        logger.warning("put %d task(s) of a dead worker back on their queues", restored)
    return restored


def announce_lost_worker(config: SchedulerConfig, at: float | None = None) -> None:
    """Record that a worker of ``config``'s prefix died at ``at`` (epoch s; default now).

    Daemon replicas read it within a second (``SchedulerKeys.worker_lost_at``) and resend the
    attempts they sent before it; a resent attempt whose first copy did run only replays its
    stored result.
    """
    moment = time.time() if at is None else at
    client = redis.Redis.from_url(config.redis_url, socket_connect_timeout=5)
    try:
        client.set(config.keys.worker_lost_at, repr(moment))
    finally:
        client.close()
