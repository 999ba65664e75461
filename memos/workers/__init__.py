"""Celery workers: the app factory, thin tasks, and the event-type -> handler registry."""

from __future__ import annotations

from memos.workers.handlers import (
    HandlerContext,
    HandlerNotFoundError,
    HandlerSpec,
    get_handler,
    register_handler,
    unregister_handler,
)

__all__ = [
    "HandlerContext",
    "HandlerNotFoundError",
    "HandlerSpec",
    "get_handler",
    "register_handler",
    "unregister_handler",
]
