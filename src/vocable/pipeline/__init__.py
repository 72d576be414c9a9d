"""The streaming runtime: channels, stages, the event bus and the runner."""

from vocable.pipeline.channel import Channel, Receive, Send
from vocable.pipeline.clock import Clock, FakeClock, SystemClock
from vocable.pipeline.events import EventBus, Subscription
from vocable.pipeline.runner import Pipeline, run_pipeline
from vocable.pipeline.stage import FrameProcessor, Stage, StageContext

__all__ = [
    "Channel",
    "Clock",
    "EventBus",
    "FakeClock",
    "FrameProcessor",
    "Pipeline",
    "Receive",
    "Send",
    "Stage",
    "StageContext",
    "Subscription",
    "SystemClock",
    "run_pipeline",
]
