"""The dead-letter stream: events that failed ``max_attempts`` times or could not be parsed.

Each DLQ entry keeps the original stream entry (raw, so malformed ones can be inspected), the
error type and message, and the number of attempts. ``retry`` re-publishes a dead letter as a new
event (same id and idempotency key, so an effect that did happen is not repeated) and removes it;
``drop`` removes it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import redis
from pydantic import BaseModel, ConfigDict

from memos.errors import SchedulerError
from memos.mem_scheduler.config import SchedulerConfig
from memos.mem_scheduler.ordering import decode

logger = logging.getLogger(__name__)

#: A dead letter keeps at most this much of the original raw entry (oversized ones are cut).
MAX_KEPT_RAW_BYTES = 64 * 1024


class DeadLetter(BaseModel):
    """One entry of the dead-letter stream."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dlq_id: str
    original_id: str
    event: str
    error_type: str
    error_message: str
    attempts: int
    failed_at: str
    consumer: str


def dead_letter_fields(
    *,
    original_id: str,
    raw: str,
    error_type: str,
    error_message: str,
    attempts: int,
    consumer: str,
) -> dict[str, str]:
    """The fields of a DLQ entry (raw events over 64 KiB are truncated: the reason says why)."""
    if len(raw) > MAX_KEPT_RAW_BYTES:
        raw = raw[:MAX_KEPT_RAW_BYTES]
    return {
        "original_id": original_id,
        "event": raw,
        "error_type": error_type,
        "error_message": error_message[:4000],
        "attempts": str(attempts),
        "failed_at": datetime.now(UTC).isoformat(),
        "consumer": consumer,
    }


def _to_dead_letter(dlq_id: object, fields: Any) -> DeadLetter:
    data = {decode(k): decode(v) for k, v in fields.items()}
    return DeadLetter(
        dlq_id=decode(dlq_id),
        original_id=data.get("original_id", ""),
        event=data.get("event", ""),
        error_type=data.get("error_type", ""),
        error_message=data.get("error_message", ""),
        attempts=int(data.get("attempts", "0") or 0),
        failed_at=data.get("failed_at", ""),
        consumer=data.get("consumer", ""),
    )


class DeadLetterQueue:
    """Operations on the DLQ stream for ``memos dlq list|retry|drop`` (synchronous)."""

    def __init__(self, config: SchedulerConfig, client: redis.Redis | None = None) -> None:
        self._config = config
        self._client = client or redis.Redis.from_url(config.redis_url, socket_timeout=None)

    def list(self, count: int = 100) -> list[DeadLetter]:
        """The oldest ``count`` dead letters."""
        try:
            rows: Any = self._client.xrange(self._config.keys.dlq, count=count)
        except redis.RedisError as exc:
            raise SchedulerError(f"cannot read the dead-letter stream: {exc}") from exc
        return [_to_dead_letter(dlq_id, fields) for dlq_id, fields in rows]

    def get(self, dlq_id: str) -> DeadLetter:
        """One dead letter; raises :class:`SchedulerError` if it does not exist."""
        rows: Any = self._client.xrange(self._config.keys.dlq, min=dlq_id, max=dlq_id)
        if not rows:
            raise SchedulerError(f"no dead letter {dlq_id!r} in {self._config.keys.dlq}")
        return _to_dead_letter(rows[0][0], rows[0][1])

    def retry(self, dlq_id: str) -> str:
        """Re-publish a dead letter's event and remove it; returns the event id."""
        from memos.mem_scheduler.events import parse_event
        from memos.mem_scheduler.transport import RedisEventTransport

        letter = self.get(dlq_id)
        event = parse_event(letter.event, max_event_bytes=self._config.max_event_bytes)
        with RedisEventTransport(self._config, client=self._client) as transport:
            event_id = transport.publish(event.model_copy(update={"attempt": 0}))
        self._client.xdel(self._config.keys.dlq, dlq_id)
        logger.info("dead letter %s re-published as event %s", dlq_id, event_id)
        return event_id

    def drop(self, dlq_id: str) -> bool:
        """Delete a dead letter; True if it existed."""
        return bool(self._client.xdel(self._config.keys.dlq, dlq_id))

    def close(self) -> None:
        """Close the Redis connection pool."""
        self._client.close()
