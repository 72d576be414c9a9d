"""WebSocket authentication, for the realtime endpoint.

Protocol, in order: an ``Authorization: Bearer …`` header (token or API key), else
``?api_key=vk_…`` or ``?ticket=…`` (from ``POST /v1/auth/ws-ticket``) in the URL, else the first
message, which must arrive within ``auth.ws_auth_timeout_s`` as JSON
``{"type": "auth", "token": "…"}`` (token, ticket or API key). Anything else closes the socket
with 1008 (policy violation).
"""

from __future__ import annotations

import asyncio
import json

from starlette.websockets import WebSocket, WebSocketState

from vocable.api.auth.service import Authenticator, Principal
from vocable.errors import AuthError
from vocable.storage.db import Database

POLICY_VIOLATION = 1008


async def _first_message_credential(websocket: WebSocket, timeout_s: float) -> str | None:
    try:
        async with asyncio.timeout(timeout_s):
            text = await websocket.receive_text()
    except (TimeoutError, KeyError, RuntimeError):
        return None
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("type") != "auth":
        return None
    token = message.get("token")
    return token if isinstance(token, str) and token else None


async def authenticate_websocket(websocket: WebSocket) -> Principal | None:
    """Authenticate a WebSocket; on failure close it with 1008 and return None.

    Call it first in a WebSocket route. It accepts the socket only when it must (to read a first
    message, or to close it with 1008); on success the caller accepts it unless
    ``websocket.client_state`` is already ``WebSocketState.CONNECTED``.

    Args:
        websocket: The socket of a route of an app built by `vocable.api.app.create_app`.

    Returns:
        The principal, or None once the socket has been closed.
    """
    state = websocket.app.state
    auth: Authenticator = state.auth
    db: Database | None = state.db
    if not auth.settings.auth.enabled and db is not None:
        return Principal(state.user_id, "local", True, via="local")
    header = websocket.headers.get("authorization", "")
    credential: str | None = None
    if header.lower().startswith("bearer "):
        credential = header[7:].strip()
    credential = (
        credential or websocket.query_params.get("api_key") or websocket.query_params.get("ticket")
    )
    if credential is None:
        await websocket.accept()
        credential = await _first_message_credential(
            websocket, auth.settings.auth.ws_auth_timeout_s
        )
    if credential is not None and db is not None:
        try:
            return await auth.principal_for(db, credential, kinds=("access", "ws"))
        except AuthError:
            pass
    if websocket.client_state == WebSocketState.CONNECTING:
        await websocket.accept()  # so that the client sees 1008, not a bare HTTP 403
    await websocket.close(code=POLICY_VIOLATION, reason="authentication required")
    return None
