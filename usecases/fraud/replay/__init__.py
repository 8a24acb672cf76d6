"""Replay simulated transactions to transactions.raw and their labels D days later to labels."""

from services.tools.ops.pacing import Pacer
from usecases.fraud.replay.corrupt import CORRUPTION_KINDS, corrupt
from usecases.fraud.replay.events import EventStream, build_stream
from usecases.fraud.replay.producer import ReplayResult, replay

__all__ = [
    "CORRUPTION_KINDS",
    "EventStream",
    "Pacer",
    "ReplayResult",
    "build_stream",
    "corrupt",
    "replay",
]
