"""The one Kafka runtime every service uses: typed envelopes, client factories and the runner."""

from services.common.kafka.envelope import Envelope, Headers, Output
from services.common.kafka.runner import Runner, RunnerConfig

__all__ = ["Envelope", "Headers", "Output", "Runner", "RunnerConfig"]
