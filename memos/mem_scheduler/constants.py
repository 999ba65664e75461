"""Every stream, consumer-group, key and queue name the scheduler uses, in one place.

All Redis names hang off one prefix (``memos`` by default) so that several deployments, or
several tests, can share one Redis without seeing each other's events.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "memos"

#: Stream entry fields: the event JSON plus two routing fields readable without parsing it.
FIELD_EVENT = "event"
FIELD_CUBE = "cube"
FIELD_SEQ = "seq"

#: Celery queues, one per priority class, so a worker pool can be sized per class.
QUEUE_QUERY = "memos.query"
QUEUE_ADD = "memos.add"
QUEUE_BACKGROUND = "memos.background"
ALL_QUEUES = (QUEUE_QUERY, QUEUE_ADD, QUEUE_BACKGROUND)

#: Priority classes: lower runs first.
PRIORITY_QUERY = 0
PRIORITY_ADD = 1
PRIORITY_BACKGROUND = 2

#: Per event type: priority class, Celery queue and Celery task name.
PRIORITY_BY_TYPE = {
    "query": PRIORITY_QUERY,
    "answer": PRIORITY_ADD,
    "add": PRIORITY_ADD,
    "reorganize": PRIORITY_BACKGROUND,
    "kv_refresh": PRIORITY_BACKGROUND,
    "manage": PRIORITY_ADD,
}
QUEUE_BY_TYPE = {
    "query": QUEUE_QUERY,
    "answer": QUEUE_QUERY,
    "add": QUEUE_ADD,
    "reorganize": QUEUE_BACKGROUND,
    "kv_refresh": QUEUE_BACKGROUND,
    "manage": QUEUE_ADD,
}
TASK_EXTRACT = "memos.extract"
TASK_SEARCH = "memos.search"
TASK_REORGANIZE = "memos.reorganize"
TASK_PRECOMPUTE_KV = "memos.precompute_kv"
TASK_APPLY_EVENT = "memos.apply_event"
#: Several ready events of a batchable type, applied together by one worker (one model call).
TASK_APPLY_BATCH = "memos.apply_batch"
#: The same for queries, on the query queue: a worker embeds the waiting queries in one call.
TASK_QUERY_BATCH = "memos.query_batch"
#: Event types the daemon may send to a worker together (see memos.workers.batching).
BATCHED_TYPES = frozenset({"add", "query"})
#: The batch task of each batchable type; each type is its own lane (its own queue and slots),
#: so a search never waits for a slot held by a batch of adds.
BATCH_TASK_BY_TYPE = {"add": TASK_APPLY_BATCH, "query": TASK_QUERY_BATCH}
TASK_BY_TYPE = {
    "add": TASK_EXTRACT,
    "query": TASK_SEARCH,
    "answer": TASK_APPLY_EVENT,
    "reorganize": TASK_REORGANIZE,
    "kv_refresh": TASK_PRECOMPUTE_KV,
    "manage": TASK_APPLY_EVENT,
}


@dataclass(frozen=True)
class SchedulerKeys:
    """Names of every Redis key and stream under one prefix.

    >>> SchedulerKeys("memos").events
    'memos:events'
    """

    prefix: str = DEFAULT_PREFIX

    @property
    def events(self) -> str:
        """The event stream the facade publishes to."""
        return f"{self.prefix}:events"

    @property
    def dlq(self) -> str:
        """The dead-letter stream: failed or malformed events with their error."""
        return f"{self.prefix}:events:dlq"

    @property
    def group(self) -> str:
        """The consumer group every daemon replica reads the event stream in."""
        return f"{self.prefix}:scheduler"

    @property
    def health_pattern(self) -> str:
        """SCAN pattern matching every replica's heartbeat key."""
        return f"{self.prefix}:scheduler:health:*"

    @property
    def reply_prefix(self) -> str:
        """Reply list keys start with this; the daemon only pushes replies under it."""
        return f"{self.prefix}:reply:"

    def health(self, consumer: str) -> str:
        """Heartbeat key of one daemon replica (expires when the replica stops beating)."""
        return f"{self.prefix}:scheduler:health:{consumer}"

    def reply(self, event_id: str) -> str:
        """Per-request list the result of ``event_id`` is pushed to (read with BLPOP)."""
        return f"{self.reply_prefix}{event_id}"

    def result(self, event_id: str) -> str:
        """The stored result of ``event_id`` (kept for late or repeated waiters)."""
        return f"{self.prefix}:result:{event_id}"

    def done(self, scoped_key: str) -> str:
        """Marker holding the result once the event with this key had its effect.

        Pass the event's ``scoped_key`` (its idempotency key bound to type, user and cube).
        """
        return f"{self.prefix}:done:{scoped_key}"

    def cube_seq(self, cube_id: str) -> str:
        """Counter of sequence numbers handed out to a cube's events at publish time."""
        return f"{self.prefix}:cube:seq:{cube_id}"

    def cube_applied(self, cube_id: str) -> str:
        """Highest sequence number of a cube whose event is finished (applied or dead-lettered)."""
        return f"{self.prefix}:cube:applied:{cube_id}"

    def attempts(self, entry_id: str) -> str:
        """Persisted attempt counter of one stream entry (survives a crash of the replica)."""
        return f"{self.prefix}:attempts:{entry_id}"

    def notify(self, consumer: str) -> str:
        """List a daemon replica waits on for its workers' outcomes."""
        return f"{self.prefix}:notify:{consumer}"

    @property
    def worker_lost_at(self) -> str:
        """Epoch time a worker of this prefix was last found dead (by its supervisor).

        Every daemon replica sends again, at once, the attempts it sent before that moment
        and still waits on: a task the dead worker held may be gone with it.
        """
        return f"{self.prefix}:workers:lost_at"
