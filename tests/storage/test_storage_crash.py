import asyncio
import os
import random
import signal
import sys
from pathlib import Path

import pytest

from tests.storage.conftest import OpenDb
from tests.storage.crash_child import sentence
from tests.storage.helpers import Target
from vocable.storage import Database, MessageStatus, MessageWriter, integrity_problems, repo

CHILD = Path(__file__).with_name("crash_child.py")
REPETITIONS = 20


async def stream_and_kill(
    target: Target, user_id: int, conv_id: int, rng: random.Random
) -> tuple[int, int]:
    """Run the child, SIGKILL it after a random number of checkpoints plus a random delay."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        target.url,
        target.schema or "-",
        str(user_id),
        str(conv_id),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    kill_after = rng.randint(0, 40)
    message_id, checkpointed = 0, 0
    try:
        async with asyncio.timeout(30):
            first = (await proc.stdout.readline()).split()
            assert first[0] == b"MESSAGE", first
            message_id = int(first[1])
            while checkpointed < kill_after:
                line = (await proc.stdout.readline()).split()
                assert line[0] == b"CKPT", line
                checkpointed = int(line[1])
            await asyncio.sleep(rng.uniform(0, 0.02))  # land anywhere in the next sentence
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return message_id, checkpointed


@pytest.mark.slow
async def test_a_killed_writer_loses_no_checkpointed_sentence(
    open_db: OpenDb, target: Target
) -> None:
    setup = await open_db()
    async with setup.uow() as tx:
        user = await repo.create_user(tx, name="ann")
        conv = await repo.create_conversation(tx, user_id=user.id)
    await setup.close()
    rng = random.Random(20260)
    for _ in range(REPETITIONS):
        message_id, checkpointed = await stream_and_kill(target, user.id, conv.id, rng)
        db = await Database.open(target.settings(), url=target.url)
        try:
            assert await integrity_problems(db.engine) == []
            async with MessageWriter(db) as writer:
                assert writer.stats.recovered == 1
            async with db.uow(readonly=True) as tx:
                message = await repo.get_message(tx, user_id=user.id, message_id=message_id)
        finally:
            await db.close()
        assert message.status is MessageStatus.INTERRUPTED
        spoken = " ".join(sentence(n) for n in range(1, checkpointed + 1))
        assert message.text.startswith(spoken)
        assert (message.heard_text or "").startswith(spoken)
        full = " ".join(sentence(n) for n in range(1, 1001))
        assert full.startswith(message.text.rstrip()), "text is a prefix of the reply"
