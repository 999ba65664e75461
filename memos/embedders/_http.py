"""One JSON POST with errors translated into :class:`EmbedderError` naming URL and model."""

from __future__ import annotations

from typing import Any

import httpx

from memos.errors import EmbedderError

_BODY_PREVIEW_CHARS = 300


def post_json(
    client: httpx.Client, url: str, body: dict[str, Any], *, model: str, what: str
) -> Any:
    """POST ``body`` to ``url`` and return the decoded JSON response.

    ``what`` names the backend in messages ("Ollama", "embeddings API").
    """
    try:
        response = client.post(url, json=body)
    except httpx.TimeoutException as exc:
        raise EmbedderError(
            f"{what} at {url} timed out embedding with model {model!r}: {exc}"
        ) from exc
    except httpx.TransportError as exc:
        raise EmbedderError(
            f"cannot reach {what} at {url} for model {model!r}: {exc}; "
            "check that the server is running and the URL is right"
        ) from exc
    if response.status_code >= 400:
        # The server's error text usually says what is wrong (unknown model, bad key);
        # it never contains our input, so a short preview is safe to show.
        preview = response.text[:_BODY_PREVIEW_CHARS]
        raise EmbedderError(
            f"{what} at {url} answered HTTP {response.status_code} for model {model!r}: {preview}"
        )
    try:
        return response.json()
    except ValueError as exc:
        raise EmbedderError(
            f"{what} at {url} returned a non-JSON response for model {model!r}"
        ) from exc
