"""Voices: record or upload a sample with live checks; list, preview, default, rename, delete.

Everything goes through ``/v1/voices``.
"""

from __future__ import annotations

import functools
import tempfile
from html import escape
from pathlib import Path
from typing import Any

import gradio as gr

from vocable.config import VoicesSettings
from vocable.ui.components import charts
from vocable.ui.components.client import Session, UiError
from vocable.ui.components.context import UiContext, error_html, notice_html

EMPTY_TEXT = "No voices yet: record or upload a 10 s sample above."
EMPTY = charts.table([], [], EMPTY_TEXT)
COLUMNS = ["name", "similarity", "plain voice", "default", "sample (s)", "SNR (dB)"]


def report_html(report: dict[str, Any], cfg: VoicesSettings) -> str:
    """The measurements of a passing sample, each against its limit."""
    rows = [
        (
            "duration",
            f"{report['duration_s']:.1f} s",
            cfg.min_sample_s <= report["duration_s"] <= cfg.max_sample_s,
            f"{cfg.min_sample_s:g}-{cfg.max_sample_s:g} s",
        ),
        (
            "SNR",
            f"{report['snr_db']:.0f} dB",
            report["snr_db"] >= cfg.min_snr_db,
            f"≥ {cfg.min_snr_db:g} dB",
        ),
        (
            "clipping",
            f"{report['clipping_ratio']:.3%}",
            report["clipping_ratio"] <= cfg.max_clipping_ratio,
            f"≤ {cfg.max_clipping_ratio:.1%}",
        ),
        (
            "speech",
            f"{report['speech_ratio']:.0%}",
            report["speech_ratio"] >= cfg.min_speech_ratio,
            f"≥ {cfg.min_speech_ratio:.0%}",
        ),
        ("one speaker", f"{report['speaker_similarity']:.2f}", True, "parts alike"),
        ("loudness", f"{report['loudness_lufs']:.1f} LUFS", True, "normalised"),
    ]
    body = "".join(
        f'<tr data-check="{name}"><td>{name}</td><td>{value}</td>'
        f'<td class="{"vc-ok" if ok else "vc-bad"}">{"✓" if ok else "✗"}</td><td>{limit}</td></tr>'
        for name, value, ok, limit in rows
    )
    notes = "".join(f"<li>{escape(n)}</li>" for n in report.get("notes") or [])
    return (
        f'<div class="vc-notice" data-valid="true">✓ The sample passes every check.</div>'
        f'<table class="vc-report">{body}</table>' + (f"<ul>{notes}</ul>" if notes else "")
    )


def refusal_html(err: UiError) -> str:
    """A failed check: which one, what was measured, and what to fix."""
    check = escape(str(err.extra.get("check") or err.code))
    hint = err.extra.get("hint")
    tip = f"<br><small>Tip: {escape(str(hint))}.</small>" if hint else ""
    return (
        f'<div class="vc-error" role="alert" data-valid="false" data-check="{check}">'
        f"✗ <b>{check}</b>: {escape(err.message)}{tip}</div>"
    )


def rows_of(voices: list[dict[str, Any]]) -> list[list[Any]]:
    """Table rows of the voice list."""
    rows = []
    for v in voices:
        report = v.get("report") or {}
        rows.append(
            [
                v["name"],
                v.get("similarity"),
                v.get("baseline_similarity"),
                "★" if v.get("default") else "",
                report.get("duration_s"),
                round(report["snr_db"], 1) if "snr_db" in report else None,
            ]
        )
    return rows


def _sample(path: str | None) -> dict[str, tuple[str, bytes, str]]:
    if not path:
        raise UiError(422, "audio.missing", "Record or upload a sample first.")
    data = Path(path).read_bytes()
    return {"sample": (Path(path).name, data, "application/octet-stream")}


def build(ui: UiContext) -> None:
    """The Voices tab."""
    cfg: VoicesSettings = ui.app.state.settings.voices
    with gr.Tab("Voices", id="voices", elem_id="tab-voices") as tab:
        gr.Markdown(
            f"Record or upload {cfg.min_sample_s:g}-{cfg.max_sample_s:g} s of one person "
            "speaking (10 s is best). The checks run as soon as the sample is in."
        )
        with gr.Row():
            sample = gr.Audio(
                sources=["upload", "microphone"],
                type="filepath",
                label="Voice sample",
                elem_id="vv-sample",
            )
            with gr.Column():
                report = gr.HTML(
                    '<div class="vc-empty">No sample checked yet.</div>', elem_id="vv-report"
                )
                name = gr.Textbox(label="Name of the new voice", elem_id="vv-name")
                create = gr.Button("Create voice", variant="primary", elem_id="vv-create")
        status = gr.HTML("", elem_id="vv-status")
        gr.Markdown("#### Your voices")
        table = gr.HTML(EMPTY, elem_id="vv-table")
        with gr.Row():
            chosen = gr.Dropdown([], label="Voice", elem_id="vv-chosen", allow_custom_value=True)
            new_name = gr.Textbox(label="New name", elem_id="vv-new-name")
        with gr.Row():
            preview = gr.Button("Preview", elem_id="vv-preview")
            default = gr.Button("Set as default", elem_id="vv-default")
            rename = gr.Button("Rename", elem_id="vv-rename")
            delete = gr.Button("Delete", variant="stop", elem_id="vv-delete")
            refresh = gr.Button("Refresh", size="sm", elem_id="vv-refresh")
        heard = gr.Audio(label="Preview", type="filepath", interactive=False, elem_id="vv-heard")

        async def listing(session: Session) -> tuple[Any, Any]:
            if not session.signed_in:
                return gr.update(), gr.update()
            voices = await ui.client(session).get("/v1/voices")
            names = [v["name"] for v in voices]
            return (
                charts.table(COLUMNS, rows_of(voices), EMPTY_TEXT),
                gr.update(choices=names, value=names[0] if names else None),
            )

        async def validate(session: Session, path: str | None) -> str:
            if not path:
                return '<div class="vc-empty">No sample checked yet.</div>'
            try:
                body = await ui.client(session).post("/v1/voices/validate", files=_sample(path))
            except UiError as err:
                return refusal_html(err)
            return report_html(body["report"], cfg)

        async def add(session: Session, path: str | None, label: str) -> tuple[Any, ...]:
            try:
                voice = await ui.client(session).post(
                    "/v1/voices", data={"name": label}, files=_sample(path)
                )
            except UiError as err:
                return (refusal_html(err), *await listing(session))
            msg = f"Voice {voice['name']!r} created: similarity {voice['similarity']:.2f}"
            if voice.get("baseline_similarity") is not None:
                msg += f" (plain voice {voice['baseline_similarity']:.2f})"
            return (notice_html(msg), *await listing(session))

        async def act(
            session: Session, voice: str | None, to: str, *, kind: str
        ) -> tuple[Any, ...]:
            client = ui.client(session)
            try:
                if not voice:
                    raise UiError(422, "voice.none", "Pick a voice first.")
                if kind == "default":
                    await client.request("PUT", f"/v1/voices/{voice}/default")
                    message = f"{voice} is now your default voice."
                elif kind == "rename":
                    await client.patch(f"/v1/voices/{voice}", json={"name": to})
                    message = f"{voice} is now called {to}."
                else:
                    await client.delete(f"/v1/voices/{voice}")
                    message = f"{voice} deleted."
            except UiError as err:
                return (error_html(err), *await listing(session))
            return (notice_html(message), *await listing(session))

        async def hear(session: Session, voice: str | None) -> tuple[Any, str]:
            try:
                if not voice:
                    raise UiError(422, "voice.none", "Pick a voice first.")
                r = await ui.client(session).request("POST", f"/v1/voices/{voice}/preview")
            except UiError as err:
                return None, error_html(err)
            with tempfile.NamedTemporaryFile(suffix=".wav", delete=False) as f:
                f.write(r.content)
            return f.name, ""

        listed = [table, chosen]
        sample.change(validate, [ui.state, sample], [report])
        create.click(add, [ui.state, sample, name], [status, *listed])
        refresh.click(listing, [ui.state], listed)
        for button, kind in ((default, "default"), (rename, "rename"), (delete, "delete")):
            button.click(
                functools.partial(act, kind=kind), [ui.state, chosen, new_name], [status, *listed]
            )
        preview.click(hear, [ui.state, chosen], [heard, status])
        tab.select(listing, [ui.state], listed)
