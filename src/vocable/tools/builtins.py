"""The built-in tools, each with the example utterances the fast intent path matches against."""

from __future__ import annotations

from vocable.config import Settings
from vocable.tools.calculator import calculate
from vocable.tools.clock import get_time
from vocable.tools.memory_tools import forget, recall, remember, summarise_conversation
from vocable.tools.registry import ToolRegistry
from vocable.tools.timers import cancel_timer, list_timers, set_reminder, set_timer

EXAMPLES: dict[str, tuple[str, ...]] = {
    "get_time": (
        "what time is it",
        "what's the time",
        "tell me the time",
        "what is today's date",
        "what day is it today",
        "what's the date",
        "do you have the time",
    ),
    "calculate": (
        "what is 17 times 23",
        "what's 12 plus 30",
        "calculate 15 divided by 4",
        "how much is 7 minus 2",
        "what is the square root of 81",
        "what is 2 to the power of 8",
        "multiply 6 by 7",
        "what is 20 percent of 50",
    ),
    "set_timer": (
        "set a timer for 5 minutes",
        "start a 10 minute timer",
        "timer for 30 seconds",
        "set a pasta timer for 8 minutes",
        "countdown 2 minutes",
    ),
    "set_reminder": (
        "remind me to call mum in 10 minutes",
        "remind me in an hour to check the oven",
        "remind me at 5 pm to take my pills",
        "set a reminder to water the plants in 20 minutes",
    ),
    "list_timers": (
        "what timers do I have",
        "how long is left on my timer",
        "list my reminders",
        "how much time is left",
    ),
    "cancel_timer": (
        "cancel the timer",
        "stop my timer",
        "cancel my reminder",
        "delete the pasta timer",
    ),
    "remember": (
        "remember that my sister is called Ann",
        "please remember my favourite colour is green",
        "don't forget that I'm allergic to nuts",
        "remember my car is parked on level 3",
    ),
    "recall": (
        "what is my sister called",
        "do you remember where I parked",
        "what did I tell you about my favourite colour",
        "what do you remember about me",
    ),
    "forget": (
        "forget that my sister is called Ann",
        "forget what I said about my car",
        "please forget my favourite colour",
    ),
    "summarise_conversation": (
        "summarise our conversation",
        "give me a summary of what we talked about",
        "what have we discussed so far",
        "recap the conversation",
    ),
}
"""Utterances that ask for each built-in tool."""

CHAT_EXAMPLES: tuple[str, ...] = (
    "hello there",
    "how are you",
    "tell me a joke",
    "what is the capital of France",
    "who wrote Hamlet",
    "what time does the bakery open",
    "how long does it take to boil an egg",
    "what is a good name for a cat",
    "why is the sky blue",
    "thank you",
    "what can you do",
    "explain how a timer works",
    "I like pasta",
    "what is the weather like",
)
"""Utterances that are conversation, not commands: the nearest being one of these sends the
turn to the model even when a tool's examples also score above the threshold."""


def builtin_registry(settings: Settings) -> ToolRegistry:
    """A registry holding every built-in tool, with timeouts from ``tools.timeout_s``."""
    timeout = settings.tools.timeout_s
    registry = ToolRegistry(default_timeout_s=timeout)
    registry.add(get_time, examples=EXAMPLES["get_time"])
    registry.add(calculate, examples=EXAMPLES["calculate"])
    registry.add(set_timer, examples=EXAMPLES["set_timer"], side_effects=True)
    registry.add(set_reminder, examples=EXAMPLES["set_reminder"], side_effects=True)
    registry.add(list_timers, examples=EXAMPLES["list_timers"])
    registry.add(cancel_timer, examples=EXAMPLES["cancel_timer"], side_effects=True)
    registry.add(remember, examples=EXAMPLES["remember"], side_effects=True)
    registry.add(recall, examples=EXAMPLES["recall"])
    registry.add(forget, examples=EXAMPLES["forget"], side_effects=True)
    registry.add(
        summarise_conversation,
        examples=EXAMPLES["summarise_conversation"],
        timeout_s=max(timeout, 30.0),
    )
    return registry
