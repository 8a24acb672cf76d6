"""Windowed feature views as data: entity, window lengths, aggregations, delay, current event in or out."""

from __future__ import annotations

from functools import cached_property
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["DAY_S", "Aggregation", "EventFields", "FeatureView", "FeedbackFields", "Step"]

DAY_S = 86_400
Function = Literal["count", "sum", "mean", "share"]
Step = tuple[int, tuple[tuple[str, Function, int], ...]]  # days, (name, function, value column index)


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Aggregation(_Spec):
    """One aggregate per window: `count` of the window's events, `sum` or `mean` of one of their numeric
    fields (`column`), or `share` of them whose feedback target is true (unlabelled ones count as not
    true). Empty windows give 0. `name` is the output feature name; `{days}` stands for the window length."""

    function: Function
    column: str | None = Field(default=None, description="the event field summed or averaged")
    name: str = Field(min_length=1, description="output name, e.g. 'NB_TX_{days}DAY'")

    @model_validator(mode="after")
    def _column_where_needed(self) -> Self:
        needs = self.function in ("sum", "mean")
        if needs and not self.column:
            raise ValueError(f"{self.function} needs a column")
        if not needs and self.column:
            raise ValueError(f"{self.function} takes no column (share reads the feedback target)")
        return self


class FeatureView(_Spec):
    """Aggregations of one entity's events over event-time windows of whole days.

    At an event of time t a window of n days covers (t − (n + delay) d, t − delay d]: the entity's
    events already seen in that range, the current one included or not (`include_current`)."""

    name: str = Field(min_length=1, description="the online store's view (Feast feature view) name")
    entity: str = Field(min_length=1, description="the event field that keys the view")
    windows_days: tuple[int, ...] = Field(min_length=1)
    aggregations: tuple[Aggregation, ...] = Field(min_length=1)
    delay_days: int = Field(default=0, ge=0)
    include_current: bool = True
    table: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_]+$",
        description="the Delta table of its offline rows, under the lake root (default: the view's name)",
    )

    @model_validator(mode="after")
    def _distinct_names(self) -> Self:
        if any(n <= 0 for n in self.windows_days) or len(set(self.windows_days)) < len(self.windows_days):
            raise ValueError("windows_days must be distinct positive day counts")
        names = self.feature_names
        if len(set(names)) < len(names):
            raise ValueError("feature names repeat: put {days} in the aggregation names")
        return self

    @cached_property
    def feature_names(self) -> list[str]:
        """Output names, window by window in the order given, aggregations in order within each."""
        return [name for _days, aggs in self.plan for name, _f, _c in aggs]

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """The numeric event fields the view keeps per event (those its sums and means read)."""
        return tuple(dict.fromkeys(a.column for a in self.aggregations if a.column))

    @cached_property
    def plan(self) -> tuple[Step, ...]:
        """Per window: its days and each aggregation's output name, function and value column index."""
        index = {c: i for i, c in enumerate(self.columns)}
        return tuple(
            (
                n,
                tuple(
                    (a.name.format(days=n), a.function, index.get(a.column or "", -1))
                    for a in self.aggregations
                ),
            )
            for n in self.windows_days
        )

    @property
    def table_name(self) -> str:
        """The Delta table of its offline rows."""
        return self.table or self.name

    @property
    def takes_feedback(self) -> bool:
        """Whether the feedback stream feeds it (a `share` aggregation)."""
        return any(a.function == "share" for a in self.aggregations)

    @property
    def reach_s(self) -> int:
        """How far back from an event's time its windows reach."""
        return (max(self.windows_days) + self.delay_days) * DAY_S


class EventFields(_Spec):
    """Where the engine finds an event's id and event time."""

    id: str
    time: str


class FeedbackFields(_Spec):
    """Where the engine finds, in a feedback message, the event it is about and the target."""

    id: str = Field(description="the id of the event it labels")
    time: str = Field(description="that event's time")
    target: str = Field(description="the boolean target")
