"""Pydantic configuration models and ``{"backend": ..., "config": {...}}`` factories."""
