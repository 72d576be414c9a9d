"""Memory: search, browse, add and delete memories; import and export JSONL (``/v1/memories``)."""

from __future__ import annotations

import asyncio
import tempfile
from html import escape
from pathlib import Path
from typing import Any

import gradio as gr

from vocable.ui.components import charts
from vocable.ui.components.client import Session, UiError
from vocable.ui.components.context import UiContext, error_html, notice_html

EMPTY_TEXT = "No memories yet: add one below, or import a JSONL file."
EMPTY = charts.table([], [], EMPTY_TEXT)
COLUMNS = ["id", "text", "kind", "score", "created"]


def rows_of(memories: list[dict[str, Any]]) -> list[list[Any]]:
    """Table rows of memories (search results carry a ``score``)."""
    return [
        [
            m.get("id"),
            m.get("text"),
            m.get("kind"),
            round(m["score"], 3) if isinstance(m.get("score"), float) else None,
            str(m.get("created_at", ""))[:19].replace("T", " "),
        ]
        for m in memories
    ]


def import_error_html(err: UiError) -> str:
    """An import refusal with each bad line, so the file can be fixed; nothing was imported."""
    detail = err.message.split(": ", 1)[1] if "nothing was imported: " in err.message else ""
    problems = [p for p in detail.split("; ") if p]
    items = "".join(
        f'<li data-line="{escape(p.split(":", 1)[0].removeprefix("line ").strip())}">'
        f"{escape(p)}</li>"
        for p in problems
    )
    text = "The file was refused, nothing was imported." if problems else escape(err.message)
    listing = f"<ul>{items}</ul>" if items else ""
    return f'<div class="vc-error" role="alert" data-import="refused">{text}{listing}</div>'


def build(ui: UiContext) -> None:
    """The Memory tab."""
    with gr.Tab("Memory", id="memory", elem_id="tab-memory") as tab:
        with gr.Row():
            query = gr.Textbox(label="Search memories", scale=4, elem_id="vm-query")
            search = gr.Button("Search", scale=0, elem_id="vm-search")
            browse = gr.Button("Show all", scale=0, elem_id="vm-browse")
        status = gr.HTML("", elem_id="vm-status")
        table = gr.HTML(EMPTY, elem_id="vm-table")
        with gr.Row():
            text = gr.Textbox(label="Remember", scale=4, elem_id="vm-text")
            add = gr.Button("Add", variant="primary", scale=0, elem_id="vm-add")
        with gr.Row():
            memory_id = gr.Number(None, label="Memory id", precision=0, elem_id="vm-id")
            delete = gr.Button("Delete", variant="stop", elem_id="vm-delete")
        with gr.Row():
            upload = gr.File(label="Import JSONL", file_types=[".jsonl"], elem_id="vm-import")
            export = gr.Button("Export JSONL", elem_id="vm-export")
            exported = gr.File(label="Exported", interactive=False, elem_id="vm-exported")

        async def listing(session: Session, q: str = "") -> tuple[Any, Any]:
            if not session.signed_in:
                return gr.update(), gr.update()
            client = ui.client(session)
            try:
                if q.strip():
                    found = await client.get("/v1/memories/search", params={"q": q.strip()})
                    memories = found.get("results", found) if isinstance(found, dict) else found
                else:
                    memories = await client.get("/v1/memories")
            except UiError as err:
                return error_html(err), gr.update()
            if isinstance(memories, dict):
                memories = memories.get("items", [])
            empty = EMPTY_TEXT if not q.strip() else f"Nothing found for {q.strip()!r}."
            return "", charts.table(COLUMNS, rows_of(memories), empty)

        async def remember(session: Session, words: str) -> tuple[Any, ...]:
            try:
                await ui.client(session).post("/v1/memories", json={"text": words})
            except UiError as err:
                return error_html(err), gr.update(), gr.update()
            _, rows = await listing(session)
            return notice_html("Remembered."), rows, ""

        async def forget(session: Session, ident: float | None) -> tuple[Any, ...]:
            try:
                if ident is None:
                    raise UiError(422, "memory.none", "Give the id of the memory to delete.")
                await ui.client(session).delete(f"/v1/memories/{int(ident)}")
            except UiError as err:
                return error_html(err), gr.update()
            _, rows = await listing(session)
            return notice_html(f"Memory {int(ident)} deleted."), rows

        async def load_file(session: Session, path: str | None) -> tuple[Any, ...]:
            if not path:
                return gr.update(), gr.update()
            data = await asyncio.to_thread(Path(path).read_bytes)
            try:
                result = await ui.client(session).post(
                    "/v1/memories/import",
                    content=data,
                    headers={"content-type": "application/x-ndjson"},
                )
            except UiError as err:
                return import_error_html(err), gr.update()
            count = result.get("imported", "?") if isinstance(result, dict) else "?"
            _, rows = await listing(session)
            return notice_html(f"Imported {count} memories."), rows

        async def dump(session: Session) -> tuple[Any, str]:
            try:
                r = await ui.client(session).request("GET", "/v1/memories/export")
            except UiError as err:
                return None, error_html(err)
            with tempfile.NamedTemporaryFile(
                prefix="memories-", suffix=".jsonl", delete=False
            ) as f:
                f.write(r.content)
            return f.name, ""

        shown = [status, table]
        search.click(listing, [ui.state, query], shown)
        query.submit(listing, [ui.state, query], shown)
        browse.click(listing, [ui.state], shown)
        tab.select(listing, [ui.state], shown)
        add.click(remember, [ui.state, text], [*shown, text])
        delete.click(forget, [ui.state, memory_id], shown)
        upload.upload(load_file, [ui.state, upload], shown)
        export.click(dump, [ui.state], [exported, status])
