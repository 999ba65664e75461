"""structlog JSON logs for the daemon and the workers, configured once by each entry point.

Every module keeps using ``logging.getLogger(__name__)`` with %-style arguments; this module
only installs a formatter on the root logger that renders those records (and structlog's own)
as one JSON object per line. Identifiers bound with :func:`bind_event` (event id, tenant
``user_id``, cube, type) are added from context variables, so a line about an event carries its
ids without any call site repeating them. Payloads never enter the context, and a last processor
drops keys that commonly hold message content or secrets, in case a call site passes one.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any, Literal, TextIO

import structlog

from memos.mem_scheduler.events import Event

LogFormat = Literal["json", "console"]

#: Keys removed from every log line: they may hold user content or credentials.
SENSITIVE_KEYS = frozenset(
    {
        "payload",
        "messages",
        "memory_content",
        "content",
        "query",
        "answer",
        "history",
        "password",
        "secret",
        "token",
        "api_key",
        "authorization",
    }
)

#: Marks the root handler this module installed, so configuring again replaces it.
_HANDLER_FLAG = "_memos_structlog_handler"


def _drop_sensitive(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> Any:
    for key in SENSITIVE_KEYS.intersection(event_dict):
        del event_dict[key]
    return event_dict


def _add_service(service: str | None) -> structlog.types.Processor:
    def add(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> Any:
        if service:
            event_dict.setdefault("service", service)
        return event_dict

    return add


def configure_logging(
    *,
    level: str = "INFO",
    fmt: LogFormat = "json",
    service: str | None = None,
    stream: TextIO | None = None,
) -> None:
    """Route stdlib and structlog records through one renderer on the root logger.

    Called by ``memos scheduler run`` and ``memos worker`` (and their ``python -m`` forms);
    calling it again replaces the handler it installed before, leaving other handlers alone.
    """
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_service(service),
        _drop_sensitive,
    ]
    renderer: structlog.types.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_FLAG, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_FLAG, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Celery logs each task's return value at INFO ("succeeded in ...: {...}"): results may
    # carry memory text, so only its warnings and errors are kept.
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def event_fields(event: Event) -> dict[str, str]:
    """The identifiers of an event that logs may carry (never its payload)."""
    return {
        "event_id": str(event.id),
        "event_type": str(event.type),
        "user_id": str(event.user_id),
        "cube_id": str(event.cube_id),
    }


def bind_event(event: Event, **extra: str) -> None:
    """Bind an event's ids to the current context (an asyncio task's or a thread's)."""
    structlog.contextvars.bind_contextvars(**event_fields(event), **extra)


@contextlib.contextmanager
def event_context(event: Event, **extra: str) -> Iterator[None]:
    """Bind an event's ids for the duration of a block (worker threads reuse their context)."""
    with structlog.contextvars.bound_contextvars(**event_fields(event), **extra):
        yield
