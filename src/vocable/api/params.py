"""Parameter types shared by routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

MAX_ROW_ID = 2**63 - 1
"""Largest id a database row can have (64-bit signed on every backend)."""

RowIdPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID, examples=[1])]
"""A row id in the path."""
