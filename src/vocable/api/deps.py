"""Dependencies routes receive: settings and the loaded assistant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from vocable.assistant import Assistant
from vocable.config import Settings
from vocable.errors import EngineUnavailableError


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_assistant(request: Request) -> Assistant:
    """The loaded assistant, or 503 while the engines are still loading or failed."""
    assistant: Assistant | None = request.app.state.assistant
    if assistant is None:
        raise EngineUnavailableError(
            "the engines are not ready yet; see GET /health", transient=True
        )
    return assistant


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
AssistantDep = Annotated[Assistant, Depends(get_assistant)]
