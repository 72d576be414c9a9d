"""The Gradio app: a login box, then the tabs; mounted inside the FastAPI app at ``/ui``.

It signs in through ``/v1/auth/login`` (no second user store) and keeps the tokens in the browser
tab's session state; every tab calls the ``/v1`` API with them.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import gradio as gr
from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from vocable.ui.components.client import Session, UiError
from vocable.ui.components.context import UiContext, error_html
from vocable.ui.tabs import chat, dashboard, memory, settings, talk, voices

UI_PATH = "/ui"
THEME_TOGGLE_JS = """() => {
  const dark = document.body.classList.toggle('dark');
  try { localStorage.setItem('vocable-theme', dark ? 'dark' : 'light'); } catch (e) {}
}"""
THEME_RESTORE = """<script>
try { if (localStorage.getItem('vocable-theme') === 'dark')
  window.addEventListener('load', () => document.body.classList.add('dark')); } catch (e) {}
</script>"""


def _static(name: str) -> str:
    return resources.files("vocable.ui").joinpath("static", name).read_text(encoding="utf-8")


def build_ui(app: FastAPI) -> gr.Blocks:
    """Lay out the login box and the tabs; handlers call into `app`."""
    auth = bool(app.state.settings.auth.enabled)
    with gr.Blocks(title="vocable", analytics_enabled=False) as blocks:
        state = gr.State(Session() if auth else Session(username="local"))
        ui = UiContext(app=app, state=state)
        with gr.Row(equal_height=True):
            gr.Markdown("## vocable", elem_id="vc-title")
            who = gr.Markdown("" if auth else "local user", elem_id="vc-who")
            theme = gr.Button("◐ Theme", size="sm", scale=0, elem_id="vc-theme")
            logout = gr.Button("Sign out", size="sm", scale=0, visible=False, elem_id="vc-logout")
        theme.click(None, js=THEME_TOGGLE_JS)
        with gr.Column(visible=auth, elem_id="vc-login") as login_box:
            gr.Markdown("### Sign in\nUse your vocable account (`vocable users create` makes one).")
            username = gr.Textbox(label="User name", elem_id="vc-username")
            password = gr.Textbox(label="Password", type="password", elem_id="vc-password")
            submit = gr.Button("Sign in", variant="primary", elem_id="vc-signin")
            login_error = gr.HTML("")
        with gr.Column(visible=not auth, elem_id="vc-main") as main:
            with gr.Tabs(elem_id="vc-tabs"):
                talk.build(ui)
                chat.build(ui)
                voices.build(ui)
                memory.build(ui)
                dashboard.build(ui)
                settings.build(ui)

        async def sign_in(session: Session, name: str, secret: str) -> tuple[Any, ...]:
            try:
                await ui.client(session).login(name.strip(), secret)
            except UiError as err:
                return (session, error_html(err), gr.update(), gr.update(), gr.update(), "", "")
            return (
                session,
                "",
                gr.update(visible=False),
                gr.update(visible=True),
                gr.update(visible=True),
                f"signed in as **{session.username}**",
                "",
            )

        outputs = [state, login_error, login_box, main, logout, who, password]
        submit.click(sign_in, [state, username, password], outputs)
        password.submit(sign_in, [state, username, password], outputs)

        async def sign_out(session: Session) -> tuple[Any, ...]:
            if session.refresh_token:
                try:
                    await ui.client(session).post(
                        "/v1/auth/logout", json={"refresh_token": session.refresh_token}
                    )
                except UiError:
                    pass  # the tokens are dropped from this tab either way
            return (
                Session(),
                gr.update(visible=True),
                gr.update(visible=False),
                gr.update(visible=False),
                "",
            )

        logout.click(sign_out, [state], [state, login_box, main, logout, who])
    return blocks  # type: ignore[no-any-return]  # gr.Blocks' context manager is untyped


def mount_ui(app: FastAPI, path: str = UI_PATH) -> FastAPI:
    """Mount the UI at `path` and redirect ``/`` there."""
    blocks = build_ui(app)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(f"{path}/")

    head = f"<style>{_static('style.css')}</style><script>{_static('talk.js')}</script>"
    mounted: FastAPI = gr.mount_gradio_app(
        app,
        blocks,
        path=path,
        ssr_mode=False,
        footer_links=[],
        head=head + THEME_RESTORE,
        # system fonts only: the page fetches nothing from outside this server
        theme=gr.themes.Soft(
            font=["ui-sans-serif", "system-ui", "sans-serif"],
            font_mono=["ui-monospace", "monospace"],
        ),
    )
    return mounted
