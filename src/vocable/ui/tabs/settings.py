"""Settings: eagerness and the default voice (now); engines, chains and endpoints (next start).

Everything is validated first: a bad value or an unreachable endpoint is an error message, and
nothing changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import tomlkit
from pydantic import ValidationError

from vocable.config import LLMSettings, Settings, TTSSettings, config_file_path
from vocable.ui.components.client import Session, UiError
from vocable.ui.components.context import UiContext, error_html, notice_html

LLM_ENGINES = ["llama_cpp", "ollama", "openai"]
TTS_ENGINES = ["piper", "pyttsx3", "xtts", "edge"]
BUILTIN = "(built-in voice)"
PROBE_TIMEOUT_S = 3.0


def parse_chain(text: str) -> list[str]:
    """``"ollama, llama_cpp"`` → ``["ollama", "llama_cpp"]``."""
    return [part.strip() for part in text.replace(">", ",").split(",") if part.strip()]


def validate_engines(
    settings: Settings, llm_chain: str, tts_chain: str, ollama_url: str, openai_url: str
) -> tuple[LLMSettings, TTSSettings]:
    """The new LLM and TTS sections, or `ValueError` saying what is wrong."""
    llm = settings.llm.model_dump()
    llm.update(
        engines=parse_chain(llm_chain),
        ollama_url=ollama_url.strip(),
        openai_base_url=openai_url.strip(),
    )
    tts = settings.tts.model_dump()
    tts.update(engines=parse_chain(tts_chain))
    try:
        new_llm, new_tts = LLMSettings.model_validate(llm), TTSSettings.model_validate(tts)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise ValueError(problems) from err
    for url in (new_llm.ollama_url, new_llm.openai_base_url):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not an http(s) URL")
    return new_llm, new_tts


async def probe_endpoints(llm: LLMSettings) -> None:
    """Reach every HTTP engine in the chain; `ValueError` names the first that fails."""
    checks = {
        "ollama": f"{llm.ollama_url.rstrip('/')}/api/tags",
        "openai": f"{llm.openai_base_url.rstrip('/')}/models",
    }
    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as client:
        for engine in llm.engines:
            if engine not in checks:
                continue
            try:
                r = await client.get(checks[engine])
            except httpx.HTTPError as err:
                raise ValueError(
                    f"{engine}: cannot reach {checks[engine]} ({type(err).__name__}). "
                    "Is the server running?"
                ) from err
            if r.status_code >= 400:
                raise ValueError(f"{engine}: {checks[engine]} answered HTTP {r.status_code}")


def save(path: Path, llm: LLMSettings, tts: TTSSettings) -> None:
    """Write the engine choices into the settings file, keeping everything else in it."""
    doc = tomlkit.parse(path.read_text(encoding="utf-8")) if path.is_file() else tomlkit.document()
    llm_table = doc.setdefault("llm", tomlkit.table())
    llm_table["engines"] = list(llm.engines)
    llm_table["ollama_url"] = llm.ollama_url
    llm_table["openai_base_url"] = llm.openai_base_url
    doc.setdefault("tts", tomlkit.table())["engines"] = list(tts.engines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")


def build(ui: UiContext) -> None:
    """The Settings tab."""
    settings: Settings = ui.app.state.settings
    with gr.Tab("Settings", id="settings", elem_id="tab-settings") as tab:
        gr.Markdown("#### This session (applies at once)")
        with gr.Row():
            eagerness = gr.Radio(
                ["auto", "high", "medium", "low"],
                value=settings.realtime.eagerness,
                label="Turn-taking eagerness (high: answers sooner; low: waits longer)",
                elem_id="vs-eagerness",
            )
            voice = gr.Dropdown([BUILTIN], value=BUILTIN, label="Default voice", elem_id="vs-voice")
        apply_now = gr.Button("Apply", variant="primary", elem_id="vs-apply")
        gr.Markdown("#### Engines and endpoints (admin; saved for the next start)")
        llm_chain = gr.Textbox(
            ", ".join(settings.llm.engines),
            label=f"LLM chain, first choice first ({', '.join(LLM_ENGINES)})",
            elem_id="vs-llm-chain",
        )
        tts_chain = gr.Textbox(
            ", ".join(settings.tts.engines),
            label=f"TTS chain, first choice first ({', '.join(TTS_ENGINES)})",
            elem_id="vs-tts-chain",
        )
        with gr.Row():
            ollama = gr.Textbox(settings.llm.ollama_url, label="Ollama URL", elem_id="vs-ollama")
            openai = gr.Textbox(
                settings.llm.openai_base_url,
                label="OpenAI-compatible base URL",
                elem_id="vs-openai",
            )
        save_engines = gr.Button("Check and save", elem_id="vs-save")
        status = gr.HTML("", elem_id="vs-status")

        async def current(session: Session) -> tuple[Any, Any]:
            if not session.signed_in:
                return gr.update(), gr.update()
            try:
                voices = await ui.client(session).get("/v1/voices")
            except UiError:
                voices = []
            names = [BUILTIN, *(v["name"] for v in voices)]
            chosen = next((v["name"] for v in voices if v.get("default")), BUILTIN)
            return gr.update(choices=names, value=chosen), session.eagerness

        async def apply(session: Session, eager: str, name: str) -> tuple[Any, str]:
            client = ui.client(session)
            try:
                if name == BUILTIN:
                    await client.delete("/v1/voices/default")
                elif name:
                    await client.request("PUT", f"/v1/voices/{name}/default")
            except UiError as err:
                return session, error_html(err)
            session.eagerness, session.voice = eager, name
            return session, notice_html(f"Applied: eagerness {eager}, voice {name}.")

        async def check_and_save(
            session: Session, llm_text: str, tts_text: str, ollama_url: str, openai_url: str
        ) -> str:
            try:
                me = await ui.client(session).get("/v1/auth/me")
                if ui.auth_enabled and not me.get("is_admin"):
                    raise ValueError("only an admin can change the server's engines")
                llm, tts = validate_engines(settings, llm_text, tts_text, ollama_url, openai_url)
                await probe_endpoints(llm)
            except (ValueError, UiError) as err:
                return error_html(ValueError(f"Not saved: {err}"))
            path = config_file_path() or settings.data_dir / "vocable.toml"
            save(path, llm, tts)
            return notice_html(
                f"Saved to {path}: LLM {' → '.join(llm.engines)}, TTS {' → '.join(tts.engines)}. "
                "They take effect at the next start; this session is unchanged."
            )

        tab.select(current, [ui.state], [voice, eagerness])
        apply_now.click(apply, [ui.state, eagerness, voice], [ui.state, status])
        save_engines.click(
            check_and_save, [ui.state, llm_chain, tts_chain, ollama, openai], [status]
        )
