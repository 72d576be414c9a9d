"""Talk: live voice through the browser microphone, on the same ``/v1/realtime`` pipeline.

The page script (``static/talk.js``) opens the WebSocket with a 30 s ticket fetched here, sends
16 kHz PCM16 from the microphone (echo cancellation on) and plays the reply gaplessly.
"""

from __future__ import annotations

import json

import gradio as gr

from vocable.ui.components.client import Session, UiError
from vocable.ui.components.context import UiContext

PANEL = """
<div id="vocable-talk" data-state="idle" data-audio-chunks="0">
  <div><span id="vt-state" data-state="idle">idle</span>
    <span class="vt-buttons">
      <button id="vt-interrupt" type="button" title="Esc">Interrupt</button>
      <button id="vt-stop" type="button">Hang up</button>
    </span></div>
  <div class="vt-meter" title="microphone level"><div id="vt-level"></div></div>
  <div id="vt-error" class="vc-error" hidden></div>
  <div id="vt-log" aria-live="polite">
    <div id="vt-empty" class="vc-empty">Press <b>Start talking</b> and speak: your words and the
    reply appear here.</div>
  </div>
  <p class="vt-keys">Keys: hold <kbd>Space</kbd> to talk (push-to-talk), <kbd>Esc</kbd> to
  interrupt. The browser's echo cancellation is on, so speakers are fine.</p>
</div>
"""
START_JS = "(config) => { window.vocableTalk.start(config); }"


def build(ui: UiContext) -> None:
    """The Talk tab."""
    with gr.Tab("Talk", id="talk", elem_id="tab-talk"):
        with gr.Row():
            start = gr.Button("Start talking", variant="primary", elem_id="vt-start", scale=0)
            hands_free = gr.Checkbox(
                True, label="Hands-free (off: hold Space to talk)", elem_id="vt-hands-free"
            )
        gr.HTML(PANEL, js_on_load=None, elem_id="vt-panel")
        config = gr.Textbox(visible="hidden", elem_id="vt-config")

        async def session_config(session: Session, free: bool) -> str:
            body: dict[str, object] = {"eagerness": session.eagerness, "hands_free": free}
            if not session.signed_in:
                return json.dumps({"error": "Sign in first."})
            if ui.auth_enabled:
                try:
                    ticket = await ui.client(session).post("/v1/auth/ws-ticket")
                except UiError as err:
                    return json.dumps({"error": str(err)})
                body["ticket"] = ticket["ticket"]
            return json.dumps(body)

        start.click(session_config, [ui.state, hands_free], [config]).then(
            None, [config], None, js=START_JS
        )
