"""Windowed feature views as data: entity, window lengths, aggregations, delay, current event in or out."""

from __future__ import annotations

from functools import cached_property
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["DAY_S", "HOUR_S", "Aggregation", "EventFields", "FeatureView", "FeedbackFields", "Step"]

DAY_S = 86_400
Function = Literal["count", "sum", "mean", "share", "since_last", "distinct", "last"]
HOUR_S = 3_600
MAX_LAST = 10_000
# seconds, (name, function, column index, how many values `last` keeps)
Step = tuple[int, tuple[tuple[str, Function, int, int], ...]]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Aggregation(_Spec):
    """One aggregate per window: `count` of the window's events, `sum` or `mean` of one of their numeric
    fields (`column`), `share` of them whose feedback target is true (unlabelled ones count as not
    true), `since_last`: the seconds from the newest other event in the window to the event's own
    time (the window's length plus the view's delay when it holds none), `distinct`: how many
    different values of one event field (`column`, any type; absent or empty is not a value) the
    window's events have, or `last`: the `n` latest values of one event field in the window, oldest
    first (a list of text, repeats kept; absent or empty is not a value). Empty windows give 0 (an
    empty list for `last`).
    `name` is the output feature name; `{days}` (or `{hours}`, for a view of hour windows) stands for
    the window length (needed unless the aggregation is over one `window` only)."""

    function: Function
    column: str | None = Field(
        default=None, description="the event field summed, averaged, counted distinct or listed"
    )
    n: int | None = Field(default=None, ge=1, le=MAX_LAST, description="how many values `last` keeps")
    window: int | None = Field(
        default=None, ge=1, description="only over this one of the view's windows (default: over each)"
    )
    name: str = Field(min_length=1, description="output name, e.g. 'NB_TX_{days}DAY' or 'MEAN_{hours}H'")

    @model_validator(mode="after")
    def _column_where_needed(self) -> Self:
        needs = self.function in ("sum", "mean", "distinct", "last")
        if needs and not self.column:
            raise ValueError(f"{self.function} needs a column")
        if not needs and self.column:
            raise ValueError(f"{self.function} takes no column (only sum, mean, distinct and last read one)")
        if (self.function == "last") != (self.n is not None):
            raise ValueError("last needs n, how many values it keeps (and only last takes n)")
        return self

    @property
    def keyed(self) -> bool:
        """Whether it reads its column as text (distinct, last) rather than as a number."""
        return self.function in ("distinct", "last")


class FeatureView(_Spec):
    """Aggregations of one entity's events over event-time windows of whole days or whole hours.

    At an event of time t a window of length w covers (t − w − delay, t − delay]: the entity's events
    already seen in that range, the current one included or not (`include_current`)."""

    name: str = Field(min_length=1, description="the online store's view (Feast feature view) name")
    entity: str = Field(min_length=1, description="the event field that keys the view")
    windows_days: tuple[int, ...] = Field(default=(), description="window lengths in days")
    windows_hours: tuple[int, ...] = Field(default=(), description="or in hours (one of the two)")
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
        if bool(self.windows_days) == bool(self.windows_hours):
            raise ValueError("give the window lengths in windows_days or in windows_hours (one of them)")
        lengths = self.windows_days or self.windows_hours
        if any(n <= 0 for n in lengths) or len(set(lengths)) < len(lengths):
            raise ValueError("window lengths must be distinct positive whole numbers")
        for a in self.aggregations:
            if a.window is not None and a.window not in lengths:
                raise ValueError(f"{a.name!r}: window {a.window} is not one of the view's {list(lengths)}")
        unit = "days" if self.windows_days else "hours"
        for a in self.aggregations:
            try:
                a.name.format(**{unit: 1})
            except (KeyError, IndexError, ValueError):
                raise ValueError(f"{a.name!r}: name the window length {{{unit}}}") from None
        names = self.feature_names + self.list_names
        if len(set(names)) < len(names):
            raise ValueError(f"feature names repeat: put {{{unit}}} in the aggregation names")
        return self

    @cached_property
    def feature_names(self) -> list[str]:
        """Its numbers' names (the model's inputs), window by window in the order given, aggregations
        in order within each."""
        return [name for _s, aggs in self.plan for name, function, _c, _n in aggs if function != "last"]

    @cached_property
    def list_names(self) -> list[str]:
        """Its lists' names (`last`), in the same order."""
        return [name for _s, aggs in self.plan for name, function, _c, _n in aggs if function == "last"]

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """The numeric event fields the view keeps per event (those its sums and means read)."""
        return tuple(dict.fromkeys(a.column for a in self.aggregations if a.column and not a.keyed))

    @cached_property
    def key_columns(self) -> tuple[str, ...]:
        """The event fields the view keeps per event as text (those it counts distinct values of or
        lists)."""
        return tuple(dict.fromkeys(a.column for a in self.aggregations if a.column and a.keyed))

    @cached_property
    def plan(self) -> tuple[Step, ...]:
        """Per window: its length in seconds and each aggregation's output name, function, column
        index (into `key_columns` for distinct and last, else into `columns`) and n (0 but for last)."""
        index = {c: i for i, c in enumerate(self.columns)}
        keys = {c: i for i, c in enumerate(self.key_columns)}
        unit, seconds = ("days", DAY_S) if self.windows_days else ("hours", HOUR_S)
        return tuple(
            (
                n * seconds,
                tuple(
                    (
                        a.name.format(**{unit: n}),
                        a.function,
                        (keys if a.keyed else index).get(a.column or "", -1),
                        a.n or 0,
                    )
                    for a in self.aggregations
                    if a.window in (None, n)
                ),
            )
            for n in self.windows_days or self.windows_hours
        )

    @property
    def longest_s(self) -> int:
        """Its longest window, in seconds."""
        return max(window_s for window_s, _ in self.plan)

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
        return self.longest_s + self.delay_days * DAY_S


class EventFields(_Spec):
    """Where the engine finds an event's id and event time."""

    id: str
    time: str


class FeedbackFields(_Spec):
    """Where the engine finds, in a feedback message, the event it is about and the target."""

    id: str = Field(description="the id of the event it labels")
    time: str = Field(description="that event's time")
    target: str = Field(description="the boolean target")
