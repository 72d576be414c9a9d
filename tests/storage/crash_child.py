"""Streams a long reply through the writer until it is killed; run by test_storage_crash.

Usage: ``python crash_child.py URL SCHEMA|- USER_ID CONVERSATION_ID``. Prints ``MESSAGE <id>``,
then ``CKPT <n>`` once the checkpoint after sentence ``n`` is committed.
"""

from __future__ import annotations

import asyncio
import sys

from vocable.storage import Database, MessageWriter, StorageSettings


def sentence(n: int) -> str:
    return f"Sentence {n} says a few more words about item {n * 7}."


async def main(url: str, schema: str, user_id: int, conversation_id: int) -> None:
    settings = StorageSettings(pg_schema=None if schema == "-" else schema, writer_batch_ms=5)
    db = await Database.open(settings, url=url, migrate=False)
    async with MessageWriter(db) as writer:
        handle = await writer.start_message(user_id=user_id, conversation_id=conversation_id)
        print(f"MESSAGE {handle.message_id}", flush=True)
        heard: list[str] = []
        for n in range(1, 1001):
            for word in sentence(n).split(" "):
                handle.append(word + " ")
                await asyncio.sleep(0)
            heard.append(sentence(n))
            handle.checkpoint(" ".join(heard))
            await handle.sync()
            print(f"CKPT {n}", flush=True)
        handle.finish()
    await db.close()


if __name__ == "__main__":
    url, schema, user_id, conversation_id = sys.argv[1:5]
    asyncio.run(main(url, schema, int(user_id), int(conversation_id)))
