"""The Delta offline rows, off the event path: a runner of its own reads the features events and appends
every view's rows (idempotent per features partition and offset, so at-least-once reading is enough)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from services.common.kafka.envelope import Envelope, Output
from services.common.usecase.views import EventFields, FeatureView
from services.features.adapters.metrics import FeaturesMetrics
from services.features.adapters.sinks import FeatureSinks
from services.features.handlers import Computed

__all__ = ["LakeWriter"]


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


class LakeWriter:
    """Handler of the lake runner: features events (JSON objects) → one Delta append per view and batch.
    A view's row has the event's entity key, its time (the first view's: the time the features service
    stamped it with, its same-second rank included; the others': the event's second) and its features."""

    def __init__(
        self, views: Sequence[FeatureView], sinks: FeatureSinks, fields: EventFields, metrics: FeaturesMetrics
    ):
        self.views, self.sinks, self.fields, self.metrics = tuple(views), sinks, fields, metrics

    def __call__(self, envs: Sequence[Envelope[Any]]) -> Sequence[Output]:
        computed = []
        for env in envs:
            event: dict[str, Any] = env.value
            second = _when(event[self.fields.time]).replace(microsecond=0)
            first = _when(event.get("feature_event_time") or event[self.fields.time])
            computed.append(
                Computed(
                    str(event[self.fields.id]),
                    env.partition,
                    env.offset,
                    event["features"],
                    tuple(str(event[v.entity]) for v in self.views),
                    (first, *[second] * (len(self.views) - 1)),
                )
            )
        if computed:
            self.metrics.lake_rows.inc(self.sinks.lake(self.sinks.lake_rows(computed)))
        return []
