"""The fast intent path's parts: argument extractors, templates and the routing rule.

The routing rule runs here on the model-free hashing embedder; the real sentence model
(all-MiniLM-L6-v2) routes a wider set in tests/integration/test_tools_minilm.py.
"""

from __future__ import annotations

import pytest

from vocable.config import Settings
from vocable.engines.embed.hashing import HashingEmbedder
from vocable.tools.builtins import CHAT_EXAMPLES, EXAMPLES, builtin_registry
from vocable.tools.extract import extract
from vocable.tools.intent import IntentRouter


@pytest.mark.parametrize(("tool", "example"), [(t, e) for t, ex in EXAMPLES.items() for e in ex])
def test_every_example_yields_its_tools_arguments(tool: str, example: str) -> None:
    assert extract(tool, example) is not None


@pytest.mark.parametrize(
    ("tool", "said", "arguments", "template"),
    [
        ("calculate", "What is 17 times 23?", {"expression": "17*23"}, "what is N times N"),
        ("set_timer", "Set a pasta timer for 8 minutes.", {"duration": "480 seconds", "label": "pasta"}, "set a something timer for N minutes"),  # noqa: E501
        ("set_timer", "start a 10 minute timer", {"duration": "600 seconds", "label": ""}, "start a N minute timer"),  # noqa: E501
        ("set_reminder", "Remind me in an hour to check the oven", {"text": "check the oven", "when": "in an hour"}, "remind me in an hour to something"),  # noqa: E501
        ("set_reminder", "remind me to call mum at 5 pm", {"text": "call mum", "when": "at 5 pm"}, "remind me to something at N pm"),  # noqa: E501
        ("remember", "Please remember that my sister is called Ann.", {"text": "my sister is called Ann"}, "remember that something"),  # noqa: E501
        ("forget", "forget what I said about my car", {"what": "my car"}, "forget what i said about something"),  # noqa: E501
        ("cancel_timer", "cancel the pasta timer", {"which": "pasta"}, "cancel the something timer"),  # noqa: E501
        ("get_time", "What's the time?", {}, "what's the time"),
    ],
)  # fmt: skip
def test_arguments_and_templates(
    tool: str, said: str, arguments: dict[str, str], template: str
) -> None:
    found = extract(tool, said)
    assert found is not None
    assert (found.arguments, found.template) == (arguments, template)


@pytest.mark.parametrize(
    ("tool", "said"),
    [
        ("calculate", "what is seventeen"),  # a number, no arithmetic
        ("set_timer", "set a timer"),  # no duration
        ("set_timer", "what is 5 minutes in seconds"),  # a duration, no timer
        ("set_reminder", "remind me to call mum"),  # no time
        ("get_time", "what time does the bakery open"),
        ("get_time", "what's the time in New York"),
        ("list_timers", "I love timers"),
        ("cancel_timer", "cancel my subscription"),
        ("remember", "remember when we went to Spain"),
        ("forget", "forget it"),
    ],
)
def test_utterances_without_the_arguments_are_left_to_the_model(tool: str, said: str) -> None:
    assert extract(tool, said) is None


@pytest.fixture
def router(settings: Settings) -> IntentRouter:
    return IntentRouter(HashingEmbedder(), builtin_registry(settings), threshold=0.6)


async def test_commands_route_to_their_tool_with_arguments(router: IntentRouter) -> None:
    route = await router.route("What is 17 times 23?")
    assert (route.tool, route.arguments) == ("calculate", {"expression": "17*23"})
    assert route.score >= 0.6 and route.reason == ""
    route = await router.route("set a timer for 12 minutes")
    assert (route.tool, route.arguments) == ("set_timer", {"duration": "720 seconds", "label": ""})
    # The template scores where the contents differ from every example.
    route = await router.route("remember that the spare key is under the blue pot")
    assert route.tool == "remember" and route.score == pytest.approx(1.0, abs=1e-5)


async def test_conversation_and_weak_matches_go_to_the_model(
    router: IntentRouter, settings: Settings
) -> None:
    for chat in CHAT_EXAMPLES:
        route = await router.route(chat)
        assert route.tool is None, chat
    route = await router.route("what is seventeen")  # like "what is 17 times 23", but no sum
    assert (route.tool, route.reason) == (None, "chat")
    strict = IntentRouter(HashingEmbedder(), builtin_registry(settings), threshold=0.99)
    route = await strict.route("tell me 3 plus 40")
    assert (route.tool, route.reason) == (None, "below_threshold")
    assert 0.6 < route.score < 0.99
    empty = await router.route("   ")
    assert empty.tool is None


async def test_examples_are_embedded_once(router: IntentRouter) -> None:
    calls: list[int] = []
    inner = router.embedder.embed

    async def counting(texts: list[str]):  # type: ignore[no-untyped-def]
        calls.append(len(texts))
        return await inner(texts)

    router.embedder.embed = counting  # type: ignore[method-assign,assignment]
    await router.route("what time is it")
    await router.route("what time is it now")
    assert calls[0] == 2 * len(router.examples)  # examples and their templates, in one batch
    assert all(n <= 4 for n in calls[1:]) and len(calls) == 3
