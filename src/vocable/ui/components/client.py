"""The UI's way into the API: in-process HTTP calls to the same FastAPI app, with the user's token.

The UI keeps no store of its own. Every tab reads and writes through the ``/v1`` routes, exactly
as any other client would, so permissions, validation and rate limits are the API's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.types import ASGIApp

TIMEOUT_S = 120.0


class UiError(Exception):
    """An API call failed; ``code`` and ``message`` come from its problem details."""

    def __init__(
        self, status: int, code: str, message: str, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}

    def __str__(self) -> str:
        return f"{self.message} ({self.code})"


@dataclass
class Session:
    """What one browser tab knows: its tokens and who is signed in (kept in ``gr.State``)."""

    access_token: str | None = None
    refresh_token: str | None = None
    username: str | None = None
    conversation_id: int | None = None
    eagerness: str = "auto"
    voice: str | None = None

    @property
    def signed_in(self) -> bool:
        """Whether a login has succeeded in this tab."""
        return self.username is not None


def problem_of(response: httpx.Response) -> UiError:
    """A `UiError` from an error response (problem+json, or whatever text came back)."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("code") or body.get("title") or f"http.{response.status_code}")
    detail = body.get("detail") or response.text or response.reason_phrase
    if isinstance(detail, list):  # a FastAPI validation error list
        detail = "; ".join(str(item.get("msg", item)) for item in detail if isinstance(item, dict))
    return UiError(response.status_code, code, str(detail), body)


class ApiClient:
    """Calls the app's own routes in-process (no socket), as the signed-in user.

    Args:
        app: The FastAPI app the UI is mounted in.
        session: The browser tab's session; a refreshed token pair is written back into it.
    """

    def __init__(self, app: ASGIApp, session: Session) -> None:
        self.app = app
        self.session = session

    def _client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 0))
        return httpx.AsyncClient(
            transport=transport, base_url="http://vocable.ui", timeout=TIMEOUT_S
        )

    def _headers(self) -> dict[str, str]:
        token = self.session.access_token
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def login(self, username: str, password: str) -> None:
        """Sign in with a password; the tokens go into the session."""
        async with self._client() as client:
            r = await client.post(
                "/v1/auth/login", json={"username": username, "password": password}
            )
        if r.status_code != 200:
            raise problem_of(r)
        tokens = r.json()
        self.session.access_token = tokens["access_token"]
        self.session.refresh_token = tokens["refresh_token"]
        self.session.username = username

    async def _refresh(self) -> bool:
        if not self.session.refresh_token:
            return False
        async with self._client() as client:
            r = await client.post(
                "/v1/auth/refresh", json={"refresh_token": self.session.refresh_token}
            )
        if r.status_code != 200:
            return False
        tokens = r.json()
        self.session.access_token = tokens["access_token"]
        self.session.refresh_token = tokens["refresh_token"]
        return True

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One API call; an expired access token is refreshed once. Errors raise `UiError`."""
        extra = kwargs.pop("headers", None) or {}
        for attempt in range(2):
            async with self._client() as client:
                headers = {**extra, **self._headers()}
                r = await client.request(method, path, headers=headers, **kwargs)
            if r.status_code == 401 and attempt == 0 and await self._refresh():
                continue
            if r.status_code >= 400:
                raise problem_of(r)
            return r
        raise AssertionError("unreachable")  # pragma: no cover

    async def get(self, path: str, **kwargs: Any) -> Any:
        """GET and decode JSON."""
        return (await self.request("GET", path, **kwargs)).json()

    async def post(self, path: str, **kwargs: Any) -> Any:
        """POST and decode JSON (None for an empty body)."""
        r = await self.request("POST", path, **kwargs)
        return json.loads(r.content) if r.content else None

    async def patch(self, path: str, **kwargs: Any) -> Any:
        """PATCH and decode JSON (None for an empty body)."""
        r = await self.request("PATCH", path, **kwargs)
        return json.loads(r.content) if r.content else None

    async def delete(self, path: str, **kwargs: Any) -> None:
        """DELETE."""
        await self.request("DELETE", path, **kwargs)
