"""Replay simulated transactions to transactions.raw and their labels D days later to labels."""

from services.tools.replay.corrupt import CORRUPTION_KINDS, corrupt
from services.tools.replay.events import EventStream, build_stream
from services.tools.replay.pacing import Pacer
from services.tools.replay.producer import ReplayResult, replay

__all__ = [
    "CORRUPTION_KINDS",
    "EventStream",
    "Pacer",
    "ReplayResult",
    "build_stream",
    "corrupt",
    "replay",
]
