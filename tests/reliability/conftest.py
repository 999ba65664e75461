"""Fixtures of the reliability suite (defined in :mod:`tests.reliability.support`)."""

from __future__ import annotations

from tests.reliability.support import make_services, private_stack

__all__ = ["make_services", "private_stack"]
