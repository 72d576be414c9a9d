"""Chat: typed messages, the reply streamed as it is generated and optionally spoken.

The conversation history (``/v1/conversations``) can be continued or deleted.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import gradio as gr

from vocable.audio.io import encode_wav
from vocable.errors import VocableError
from vocable.pipeline.tasks import cancel_and_wait
from vocable.ui.components.client import Session, UiError
from vocable.ui.components.context import UiContext, error_html
from vocable.ui.components.textturn import ChatResult, chat_turn

NEW = "(new conversation)"
Message = dict[str, str]


def history_of(conversation: dict[str, Any]) -> list[Message]:
    """Chat messages of a stored conversation (interrupted replies show what was heard)."""
    out: list[Message] = []
    for m in conversation.get("messages", []):
        if m["role"] not in ("user", "assistant"):
            continue
        text = m["text"] if m["status"] != "interrupted" else (m.get("heard_text") or m["text"])
        out.append({"role": m["role"], "content": text})
    return out


def _label(c: dict[str, Any]) -> tuple[str, str]:
    title = c.get("title") or "untitled"
    turns = int(c["turn_count"])
    return f"#{c['id']} {title} ({turns} turn{'' if turns == 1 else 's'})", str(c["id"])


def build(ui: UiContext) -> None:
    """The Chat tab."""
    with gr.Tab("Chat", id="chat", elem_id="tab-chat") as tab:
        with gr.Row():
            picker = gr.Dropdown(
                [(NEW, "")], value="", label="Conversation", scale=4, elem_id="vc-conversation"
            )
            new = gr.Button("New", scale=0, elem_id="vc-new")
            delete = gr.Button("Delete", variant="stop", scale=0, elem_id="vc-delete")
        status = gr.HTML("", elem_id="vc-chat-status")
        chatbot = gr.Chatbot(
            label="Conversation",
            height=380,
            elem_id="vc-chatbot",
            placeholder="No messages yet: type below to start a conversation.",
        )
        with gr.Row():
            message = gr.Textbox(
                placeholder="Type a message and press Enter",
                show_label=False,
                scale=5,
                elem_id="vc-message",
            )
            send = gr.Button("Send", variant="primary", scale=0, elem_id="vc-send")
        speak = gr.Checkbox(False, label="Speak the reply", elem_id="vc-speak")
        spoken = gr.Audio(
            label="Spoken reply",
            autoplay=True,
            interactive=False,
            type="filepath",
            elem_id="vc-spoken",
        )

        async def conversations(session: Session) -> Any:
            if not session.signed_in:
                return gr.update()
            try:
                rows = await ui.client(session).get("/v1/conversations")
            except UiError:
                return gr.update()
            current = str(session.conversation_id or "")
            return gr.update(choices=[(NEW, ""), *(_label(c) for c in rows)], value=current)

        async def open_conversation(session: Session, ident: str) -> tuple[Any, ...]:
            if not ident:
                session.conversation_id = None
                return session, [], ""
            try:
                conv = await ui.client(session).get(f"/v1/conversations/{int(ident)}")
            except UiError as err:
                return session, gr.update(), error_html(err)
            session.conversation_id = conv["id"]
            return session, history_of(conv), ""

        async def remove(session: Session, ident: str) -> tuple[Any, ...]:
            if ident:
                try:
                    await ui.client(session).delete(f"/v1/conversations/{int(ident)}")
                except UiError as err:
                    return session, gr.update(), error_html(err), gr.update()
            session.conversation_id = None
            return session, [], "", await conversations(session)

        async def reply(
            session: Session, text: str, history: list[Message], voice: bool
        ) -> AsyncIterator[tuple[Any, ...]]:
            text = text.strip()
            if not text:
                yield session, history, "", gr.update(), gr.update()
                return
            history = [*history, {"role": "user", "content": text}]
            history.append({"role": "assistant", "content": ""})
            yield session, history, "", "", None
            try:
                await ui.client(session).get("/v1/auth/me")  # refreshes an expired token
            except UiError as err:
                yield session, history[:-1], text, error_html(err), None
                return
            pieces: asyncio.Queue[str | None] = asyncio.Queue()

            async def run() -> ChatResult:
                try:
                    return await chat_turn(
                        ui.app,
                        session.access_token,
                        text,
                        on_token=pieces.put_nowait,
                        conversation_id=session.conversation_id,
                        spoken=voice,
                    )
                finally:
                    pieces.put_nowait(None)

            task = asyncio.create_task(run(), name="vocable-ui-chat")
            try:
                while (piece := await pieces.get()) is not None:
                    history[-1] = {"role": "assistant", "content": history[-1]["content"] + piece}
                    yield session, history, "", "", None
                result = await task
            except (VocableError, UiError) as err:
                yield session, history[:-1], text, error_html(err), None
                return
            finally:
                await cancel_and_wait(task)
            session.conversation_id = result.conversation_id
            history[-1] = {"role": "assistant", "content": result.reply}
            audio = None
            if result.pcm:
                with tempfile.NamedTemporaryFile(suffix=".wav", delete=False) as f:
                    f.write(encode_wav(result.pcm, result.sample_rate))
                audio = f.name
            yield session, history, "", "", audio

        outputs = [ui.state, chatbot, message, status, spoken]
        send.click(reply, [ui.state, message, chatbot, speak], outputs).then(
            conversations, [ui.state], [picker]
        )
        message.submit(reply, [ui.state, message, chatbot, speak], outputs).then(
            conversations, [ui.state], [picker]
        )
        picker.input(open_conversation, [ui.state, picker], [ui.state, chatbot, status])
        new.click(open_conversation_sync, [ui.state], [ui.state, chatbot, picker])
        delete.click(remove, [ui.state, picker], [ui.state, chatbot, status, picker])

        tab.select(conversations, [ui.state], [picker])


def open_conversation_sync(session: Session) -> tuple[Session, list[Message], str]:
    """Start afresh: the next message opens a new conversation."""
    session.conversation_id = None
    return session, [], ""
