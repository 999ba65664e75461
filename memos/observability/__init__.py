"""Structured logs and Prometheus metrics, configured by the entry points (never at import)."""

from __future__ import annotations
