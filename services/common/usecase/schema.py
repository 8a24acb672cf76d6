"""The use-case declaration schema: event, cleaning, feedback, features, model, decision, monitor, topics."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, Literal, Self

from pydantic import Discriminator, Field, Tag, model_validator

from services.common.feature_services import FeatureServiceSpec, ViewSpec
from services.common.usecase.events import EventSpec, Spec
from services.common.usecase.model import (
    MODULE,
    DecisionSpec,
    ModelSpec,
    MonitorSpec,
    RankingSpec,
    TrainingSpec,
)
from services.common.usecase.views import EventFields, FeatureView, FeedbackFields

__all__ = [
    "CleaningSpec",
    "DecisionSpec",
    "EventInput",
    "FeaturesSpec",
    "FeedbackSpec",
    "ModelSpec",
    "MonitorSpec",
    "NextEventSpec",
    "RankingSpec",
    "TopicsSpec",
    "TrainingSpec",
    "UseCase",
]


class CleaningSpec(Spec):
    """The cleaning rules' limits beyond the fields' own (ingest)."""

    max_value_bytes: int = Field(default=1_048_576, ge=1)
    max_future_skew_s: float = Field(default=300.0, ge=0, description="event time ahead of its record's")
    max_event_age_days: float = Field(default=10_000.0, gt=0, description="event time behind its record's")


class FeedbackSpec(Spec):
    """The delayed feedback stream: which event it is about, that event's time, the target."""

    kind: Literal["label"] = "label"
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="what one feedback message is, e.g. 'label'")
    description: str = Field(default="", description="its schema's description")
    id: str = Field(description="the id of the event it is about")
    time: str = Field(description="that event's time")
    target: str = Field(description="the boolean target")
    delay_days: float = Field(ge=0, description="how long after its event feedback arrives")


class NextEventSpec(Spec):
    """Feedback that is the stream itself: an entity's next event answers the request its previous
    event made (what it was is the next event's `truth` field: the item a user interacted with next)."""

    kind: Literal["next_event"]
    truth: str = Field(description="the event field the next event answers with")


def _feedback_kind(value: Any) -> str:
    """A feedback declaration's kind: labels unless it says otherwise."""
    kind = value.get("kind", "label") if isinstance(value, dict) else getattr(value, "kind", "label")
    return str(kind)


class EventInput(Spec):
    """A model input computed from the event alone: a numeric field's `value`, or a calendar flag of the
    event time (UTC): `weekend` (Saturday or Sunday), `hours` (hour within [first, last])."""

    name: str = Field(min_length=1)
    kind: Literal["value", "weekend", "hours"]
    field: str | None = Field(default=None, description="value: the numeric event field")
    hours: tuple[int, int] | None = Field(default=None, description="hours: [first, last], 0-23")

    @model_validator(mode="after")
    def _arguments(self) -> Self:
        if (self.kind == "value") != (self.field is not None):
            raise ValueError("field is for (and needed by) kind value")
        if (self.kind == "hours") != (self.hours is not None):
            raise ValueError("hours is for (and needed by) kind hours")
        if self.hours is not None and not 0 <= self.hours[0] <= self.hours[1] <= 23:
            raise ValueError("hours must be [first, last] with 0 <= first <= last <= 23")
        return self


class FeaturesSpec(Spec):
    """The feature service: the event's own inputs (stored in the first view's row), then the windowed
    views; the first view must be keyed like the clean stream and take no feedback."""

    service: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$", description="the Feast feature service")
    event_inputs: tuple[EventInput, ...] = ()
    views: tuple[FeatureView, ...] = Field(min_length=1)


class TopicsSpec(Spec):
    """The use case's topics (DESIGN.md §3)."""

    raw: str
    clean: str
    features: str
    feedback: str | None = Field(default=None, description="the labels (none for next_event feedback)")
    predictions: str
    dlq: str
    alerts: str = "alerts"
    models: str = "models"


class UseCase(Spec):
    """One use case, as `usecases/<name>/usecase.yaml` declares it."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    version: int = Field(
        default=1, ge=1, description="the wire contracts' version (the schemas' names): raise it with them"
    )
    evaluation: str | None = Field(
        default=None,
        pattern=MODULE,
        description="a module with the use case's own metrics (METRICS) and test-set rule (test_set)",
    )
    commands: str | None = Field(
        default=None,
        pattern=MODULE,
        description="a module whose import adds the use case's own rtloop commands",
    )
    event: EventSpec
    cleaning: CleaningSpec = Field(default_factory=CleaningSpec)
    feedback: Annotated[
        Annotated[FeedbackSpec, Tag("label")] | Annotated[NextEventSpec, Tag("next_event")],
        Discriminator(_feedback_kind),
    ]
    features: FeaturesSpec
    model: ModelSpec
    decision: DecisionSpec
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    monitor: MonitorSpec = Field(default_factory=MonitorSpec)
    topics: TopicsSpec

    @model_validator(mode="after")
    def _features_read_the_event(self) -> Self:
        views, event = self.features.views, self.event
        if views[0].entity != event.key:
            raise ValueError(f"features.views.0 must be keyed by the event key {event.key!r}")
        if views[0].takes_feedback:
            raise ValueError("features.views.0 cannot take feedback (a share): it is not repartitioned")
        for i, view in enumerate(views):
            if view.entity not in event.fields:
                raise ValueError(f"features.views.{i}.entity {view.entity!r} is not an event field")
            for column in view.columns:
                if not event.numeric(column):
                    raise ValueError(f"features.views.{i}: {column!r} is not a numeric event field")
            for column in view.key_columns:
                if column not in event.fields:
                    raise ValueError(f"features.views.{i}: {column!r} (distinct, last) is not an event field")
        for i, spec in enumerate(self.features.event_inputs):
            if spec.field is not None and not event.numeric(spec.field):
                raise ValueError(f"features.event_inputs.{i}: {spec.field!r} is not a numeric event field")
        return self

    @model_validator(mode="after")
    def _feedback_has_its_source(self) -> Self:
        if isinstance(self.feedback, NextEventSpec):
            if self.feedback.truth not in self.event.fields:
                raise ValueError(f"feedback.truth {self.feedback.truth!r} is not an event field")
            if any(view.takes_feedback for view in self.features.views) or self.topics.feedback:
                raise ValueError("next_event feedback is the stream itself: no share, no topics.feedback")
        elif not self.topics.feedback:
            raise ValueError("topics.feedback: the labels' topic is needed (feedback kind label)")
        return self

    @model_validator(mode="after")
    def _model_reads_the_features(self) -> Self:
        names = self.feature_service.feature_names
        every = names + [n for view in self.feature_service.views for n in view.lists]
        if len(set(every)) < len(every):
            raise ValueError("features: input names repeat across the event inputs and the views")
        if self.model.inputs != self.features.service:
            raise ValueError(f"model.inputs must name the feature service {self.features.service!r}")
        if (self.model.output == "ranking") != (self.decision.rule == "top_k"):
            raise ValueError("a probability model decides by threshold, a ranking model by top_k")
        ranking, first = self.model.ranking, self.feature_service.views[0]
        protocols = ("last_per_key", "none") if ranking is not None else ("delayed", "holdout", "none")
        if self.training.protocol not in protocols:
            raise ValueError(
                f"training.protocol {self.training.protocol!r}: a {self.model.output} model's is one of "
                f"{', '.join(protocols)}"
            )
        if ranking is not None:
            if self.event.fields.get(ranking.items) is None or self.event.fields[ranking.items].type != "id":
                raise ValueError(f"model.ranking.items {ranking.items!r} is not an id field of the event")
            for role in ("recent", "seen"):
                if getattr(ranking, role) not in first.lists:
                    raise ValueError(
                        f"model.ranking.{role} {getattr(ranking, role)!r} is not a list (last) of "
                        f"features.views.0: {', '.join(first.lists) or 'it has none'}"
                    )
        for name in self.monitor.drift_ignore:
            if name not in names:
                raise ValueError(f"monitor.drift_ignore: {name!r} is not a model input")
        return self

    @property
    def event_fields(self) -> EventFields:
        """Where the features engine finds an event's id and time."""
        return EventFields(id=self.event.id, time=self.event.time)

    @property
    def labels(self) -> FeedbackSpec | None:
        """The labels' declaration (None when the feedback is the stream's next event)."""
        return self.feedback if isinstance(self.feedback, FeedbackSpec) else None

    @property
    def feedback_fields(self) -> FeedbackFields | None:
        """Where the features engine finds a feedback message's event id, event time and target (None
        without labels)."""
        fb = self.labels
        return None if fb is None else FeedbackFields(id=fb.id, time=fb.time, target=fb.target)

    @cached_property
    def feature_service(self) -> FeatureServiceSpec:
        """The online views as the scorer and the writers see them: the first view's row holds the
        event's own inputs, then its windows."""
        inputs = tuple(i.name for i in self.features.event_inputs)
        views = tuple(
            ViewSpec(
                v.name, v.entity, (inputs if i == 0 else ()) + tuple(v.feature_names), tuple(v.list_names)
            )
            for i, v in enumerate(self.features.views)
        )
        return FeatureServiceSpec(self.features.service, views)
