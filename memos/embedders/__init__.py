"""Embedders: turn texts into vectors (sentence-transformers, Ollama, OpenAI-compatible APIs)."""
