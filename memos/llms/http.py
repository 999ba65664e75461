"""Shared HTTP plumbing for server-backed chat models: one client, errors translated once."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from memos.errors import LLMError

logger = logging.getLogger(__name__)


def _server_message(response: httpx.Response) -> str:
    """The error text a server put in its body (OpenAI ``error.message`` or Ollama ``error``)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:300]
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err is not None:
            return str(err)[:300]
    return str(body)[:300]


class HTTPChatClient:
    """A small wrapper over ``httpx.Client`` that names the server and model in every error."""

    def __init__(
        self, base_url: str, *, what: str, model: str, timeout_s: float, headers: dict[str, str]
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.what = what
        self.model = model
        self._client = httpx.Client(timeout=timeout_s, headers=headers)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"

    def _raise_for_status(self, response: httpx.Response, url: str) -> None:
        if response.status_code < 400:
            return
        if response.is_stream_consumed is False:
            response.read()
        detail = _server_message(response)
        if response.status_code == 404 and "model" in detail.lower():
            raise LLMError(f"{self.what} at {self.base_url} has no model {self.model!r}: {detail}")
        raise LLMError(
            f"{self.what} at {url} answered HTTP {response.status_code} for model "
            f"{self.model!r}: {detail}"
        )

    def _translate(self, exc: httpx.HTTPError, url: str) -> LLMError:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return LLMError(
                f"{self.what} at {self.base_url} is unreachable ({exc}); is it running?"
            )
        if isinstance(exc, httpx.TimeoutException):
            return LLMError(f"{self.what} at {url} timed out for model {self.model!r}")
        return LLMError(f"{self.what} request to {url} failed: {exc}")

    def post_json(self, path: str, body: dict[str, Any]) -> Any:
        """POST ``body`` as JSON and return the decoded JSON answer."""
        url = self._url(path)
        try:
            response = self._client.post(url, json=body)
        except httpx.HTTPError as exc:
            raise self._translate(exc, url) from exc
        self._raise_for_status(response, url)
        try:
            return response.json()
        except json.JSONDecodeError as exc:
            raise LLMError(f"{self.what} at {url} did not answer JSON") from exc

    def get_text(self, path: str) -> str:
        """GET ``path`` and return the body as text."""
        url = self._url(path)
        try:
            response = self._client.get(url)
        except httpx.HTTPError as exc:
            raise self._translate(exc, url) from exc
        self._raise_for_status(response, url)
        return response.text

    @contextmanager
    def _stream(self, path: str, body: dict[str, Any]) -> Iterator[httpx.Response]:
        url = self._url(path)
        try:
            with self._client.stream("POST", url, json=body) as response:
                self._raise_for_status(response, url)
                yield response
        except httpx.HTTPError as exc:
            raise self._translate(exc, url) from exc

    def stream_sse(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """POST and yield each JSON event of a Server-Sent Events answer until ``[DONE]``."""
        with self._stream(path, body) as response:
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue  # blank separators, comments, "event:" lines
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    return
                yield self._decode_event(data)

    def stream_ndjson(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """POST and yield each JSON object of a newline-delimited JSON answer."""
        with self._stream(path, body) as response:
            for line in response.iter_lines():
                if line.strip():
                    yield self._decode_event(line)

    def _decode_event(self, data: str) -> dict[str, Any]:
        try:
            event = json.loads(data)
        except json.JSONDecodeError as exc:
            raise LLMError(f"{self.what} at {self.base_url} sent a malformed stream event") from exc
        if not isinstance(event, dict):
            raise LLMError(f"{self.what} at {self.base_url} sent a non-object stream event")
        if "error" in event:
            raise LLMError(f"{self.what} at {self.base_url} failed mid-stream: {event['error']}")
        return event
