"""What every tab builder gets: the app it calls into and the per-tab session state."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

import gradio as gr
from fastapi import FastAPI

from vocable.ui.components.client import ApiClient, Session, UiError


@dataclass(frozen=True)
class UiContext:
    """The FastAPI app (for in-process API calls) and the ``gr.State`` holding a `Session`."""

    app: FastAPI
    state: gr.State

    @property
    def auth_enabled(self) -> bool:
        """Whether the API asks for credentials (else one local user owns everything)."""
        return bool(self.app.state.settings.auth.enabled)

    def client(self, session: Session) -> ApiClient:
        """An API client acting as the session's user."""
        return ApiClient(self.app, session)


def error_html(err: Exception) -> str:
    """An error as a visible message block (API problems keep their code)."""
    text = str(err) if isinstance(err, UiError) else f"{type(err).__name__}: {err}"
    return f'<div class="vc-error" role="alert">{escape(text)}</div>'


def notice_html(text: str) -> str:
    """A success or information message block."""
    return f'<div class="vc-notice" role="status">{escape(text)}</div>'


def not_signed_in(session: Session) -> bool:
    """True when the tab has no signed-in user (the handler should do nothing)."""
    return not session.signed_in


Json = dict[str, Any]
