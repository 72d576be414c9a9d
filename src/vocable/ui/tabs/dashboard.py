"""Dashboard: live latency waterfall, voice-to-voice p50/p95 and histogram, and more.

Throughput, audio quality and resources too, all read from ``GET /v1/metrics``: the same
collector the Prometheus ``/metrics`` endpoint exports, so there is no second bookkeeping.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from vocable.ui.components import charts
from vocable.ui.components.client import Session, UiError
from vocable.ui.components.context import UiContext, error_html

REFRESH_S = 2.0


def render(snap: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """The dashboard's five panels from one metrics snapshot."""
    turns = snap.get("turns") or []
    hist = snap.get("v2v_histogram") or {}
    return (
        charts.summary_cards(snap),
        charts.waterfall(turns),
        charts.trend([t.get("v2v_ms") for t in turns], "voice-to-voice per turn"),
        charts.histogram(hist.get("edges_ms") or [], hist.get("counts") or [], "voice-to-voice"),
        charts.quality_cards(snap),
    )


def build(ui: UiContext) -> None:
    """The Dashboard tab."""
    with gr.Tab("Dashboard", id="dashboard", elem_id="tab-dashboard"):
        status = gr.HTML("")
        summary = gr.HTML(charts.summary_cards({}), elem_id="vc-summary")
        gr.Markdown("#### Per-turn waterfall (ms from the end of your speech)")
        waterfall = gr.HTML(charts.waterfall([]), elem_id="vc-waterfall")
        with gr.Row():
            with gr.Column():
                gr.Markdown("#### Voice-to-voice, last turns")
                trend = gr.HTML(charts.trend([], "voice-to-voice"), elem_id="vc-trend")
            with gr.Column():
                gr.Markdown("#### Voice-to-voice histogram")
                hist = gr.HTML(charts.histogram([], [], "voice-to-voice"), elem_id="vc-hist")
        gr.Markdown("#### Audio quality and resources")
        quality = gr.HTML(charts.quality_cards({}), elem_id="vc-quality")
        live = gr.Checkbox(True, label=f"Live (every {REFRESH_S:g} s)", elem_id="vc-live")
        refresh = gr.Button("Refresh", size="sm", elem_id="vc-refresh")
        timer = gr.Timer(REFRESH_S)

        async def load(session: Session) -> tuple[Any, ...]:
            if not session.signed_in:
                return (gr.update(),) * 6
            try:
                snap = await ui.client(session).get("/v1/metrics")
            except UiError as err:
                return (error_html(err), *(gr.update(),) * 5)
            return ("", *render(snap))

        outputs = [status, summary, waterfall, trend, hist, quality]
        timer.tick(load, [ui.state], outputs, show_progress="hidden")
        refresh.click(load, [ui.state], outputs)
        live.change(lambda on: gr.Timer(active=on), [live], [timer])
