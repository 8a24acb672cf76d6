"""A use case's wire contracts, made from its declaration: raw, clean, feedback (labels),
featurized, and the model's output: a prediction or a recommendation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, create_model

from services.common.contracts.base import Contract, EventTime, Timestamp
from services.common.contracts.latency import LatencyMs
from services.common.usecase import UseCase
from services.common.usecase.events import FieldSpec

__all__ = ["UseCaseContracts", "contracts_for"]

_ID_LENGTH = 128


@dataclass(frozen=True)
class UseCaseContracts:
    """The models of a use case's topics, and the JSON Schema file stem of each. `feedback` is the
    labels' (None when the feedback is the next event); `prediction` the model's output: a
    probability model's prediction, or a ranking model's recommendation."""

    raw: type[Contract]
    clean: type[Contract]
    feedback: type[Contract] | None
    featurized: type[Contract]
    prediction: type[Contract]
    feedback_time: str | None  # when the feedback became known: `<feedback name>_time`
    stems: dict[str, type[Contract]]  # schema file stem (`transaction.v2`) → model


def _id(spec: FieldSpec) -> Any:
    return Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=spec.max_length or _ID_LENGTH)
    ]


def _raw_type(spec: FieldSpec) -> Any:
    """What a producer may send: types and id lengths; bounds, patterns and case are cleaning's."""
    if spec.type == "id":
        return _id(spec)
    if spec.type == "timestamp":
        return EventTime
    if spec.type == "string":
        return Annotated[str, Field(max_length=spec.max_length)]
    return float if spec.type == "number" else bool


def _clean_type(spec: FieldSpec) -> Any:
    """What cleaning guarantees: finite numbers within their bounds, strings normalised to their pattern."""
    if spec.type == "number":
        return Annotated[float, Field(ge=spec.min, lt=spec.below, allow_inf_nan=False)]
    if spec.type == "string":
        return Annotated[str, Field(max_length=spec.max_length, pattern=spec.pattern)]
    return _raw_type(spec)


def _field(kind: Any, spec: FieldSpec, *, optional: bool) -> tuple[Any, Any]:
    """(type, FieldInfo); the declared description, where there is one, over the type's own."""
    said = spec.description or None
    if optional and not spec.required:
        return kind | None, Field(default=None, description=said) if said else None
    return kind, Field(description=said) if said else ...


def _model(name: str, doc: str, fields: dict[str, Any], **config: Any) -> type[Contract]:
    model = create_model(name, __base__=Contract, __doc__=doc, **fields)
    if config:
        model.model_config = ConfigDict(**{**Contract.model_config, **config})  # type: ignore[typeddict-item]
        model.model_rebuild(force=True)
    return model


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


_MADE: dict[int, tuple[UseCase, UseCaseContracts]] = {}


def contracts_for(declared: UseCase) -> UseCaseContracts:
    """The use case's contracts (made once per declaration); a field's declared description becomes its
    schema description."""
    made = _MADE.get(id(declared))
    if made is None or made[0] is not declared:
        made = _MADE[id(declared)] = (declared, _make(declared))
    return made[1]


def _make(declared: UseCase) -> UseCaseContracts:
    event, feedback, v = declared.event, declared.labels, declared.version
    name = _camel(event.name)
    fields = event.fields
    raw = _model(
        f"{name}V{v}",
        event.description or f"A {event.name} as a producer reports it. Extra fields are allowed and kept.",
        {f: _field(_raw_type(s), s, optional=True) for f, s in fields.items()},
        extra="allow",
    )
    lineage = {
        "ingest_time": (Timestamp, ...),
        "source_partition": (int, Field(ge=0)),
        "source_offset": (int, Field(ge=0)),
    }
    clean_fields = {
        f: _field(_clean_type(s), s, optional=s.default is None) for f, s in fields.items()
    } | lineage
    clean = _model(
        f"Clean{name}V{v}",
        f"A {event.name} that passed every cleaning rule.",
        clean_fields,
    )
    keys = dict.fromkeys(view.entity for view in declared.features.views)
    label, feedback_time = None, None
    if feedback is not None:
        feedback_time = f"{feedback.name}_time"
        label = _model(
            f"{_camel(feedback.name)}V{v}",
            feedback.description
            or f"Whether a past {event.name} was {feedback.target}, known at {feedback_time} (after it).",
            {
                feedback.id: (_id(fields[event.id]), ...),
                **{k: (_clean_type(fields[k]), ...) for k in keys if k != event.id},
                feedback.time: (EventTime, ...),
                feedback.target: (bool, ...),
                feedback_time: (EventTime, ...),
            },
        )
    featurized = _model(
        f"Featurized{name}V{v}",
        f"A clean {event.name} emitted only after its features were written to the online store.",
        clean_fields | _FEATURIZED,
    )
    about = {
        event.id: (_id(fields[event.id]), ...),
        **{k: (_clean_type(fields[k]), ...) for k in keys if k != event.id},
        event.time: (EventTime, ...),
    }
    if declared.model.output == "ranking":
        stem = f"recommendation.v{v}"
        prediction = _model(
            f"RecommendationV{v}", f"A model's best items after one {event.name}.", about | _RANKED
        )
    else:
        stem = f"prediction.v{v}"
        prediction = _model(f"PredictionV{v}", f"A model's verdict on one {event.name}.", about | _VERDICT)
    stems = {f"{event.name}.v{v}": raw, f"clean_{event.name}.v{v}": clean}
    if label is not None and feedback is not None:
        stems[f"{feedback.name}.v{v}"] = label
    stems |= {f"featurized_{event.name}.v{v}": featurized, stem: prediction}
    return UseCaseContracts(raw, clean, label, featurized, prediction, feedback_time, stems)


_FEATURIZED: dict[str, Any] = {
    "features_written_at": (Timestamp, Field(description="When the online write became durable")),
    "feature_service": (str, Field(min_length=1, description="Feast feature service to look up")),
    "feature_event_time": (
        Timestamp | None,
        Field(
            default=None,
            description="Timestamp of this event's row online in the view keyed like the stream (event "
            "time + same-second rank): a lookup that returns a newer row saw a later event of the same "
            "entity",
        ),
    ),
    "features": (
        dict[str, float | list[str]] | None,
        Field(
            default=None,
            description="This event's own rows of every view of the feature service (numbers, and "
            "lists of text), as written online for it. A later event of the same entity replaces a row "
            "online, possibly before the scorer reads it: the scorer uses these values (point-in-time), "
            "and the online rows only where absent",
        ),
    ),
    "online_features": (
        dict[str, float | None] | None,
        Field(
            default=None,
            description="The model's inputs as read back from the online store right after the write "
            "(only when the features service runs with FEATURES_VERIFY_ONLINE=true)",
        ),
    ),
}

_VERDICT: dict[str, Any] = {
    "score": (float, Field(ge=0, le=1, allow_inf_nan=False)),
    "decision": (bool, ...),
    "threshold": (float, Field(ge=0, le=1)),
    "model_name": (str, Field(min_length=1)),
    "model_version": (str, Field(min_length=1)),
    "features": (dict[str, float], Field(description="The feature vector used, by name")),
    "latency_ms": (LatencyMs, ...),
    "scored_at": (Timestamp, ...),
    "shadow": (bool, Field(default=False, description="True for a shadow model's score: never decides")),
}


class RankedItem(Contract):
    """One recommended item: its id, its rank (1 is the best) and the model's score."""

    item: str = Field(min_length=1)
    rank: int = Field(ge=1)
    score: float = Field(allow_inf_nan=False)


_RANKED: dict[str, Any] = {
    "items": (list[RankedItem], Field(description="The best items, best first (at most the decision's k)")),
    "candidate_count": (int, Field(ge=0, description="How many candidates the model ranked")),
    "model_name": (str, Field(min_length=1)),
    "model_version": (str, Field(min_length=1)),
    "latency_ms": (LatencyMs, ...),
    "scored_at": (Timestamp, ...),
    "shadow": (bool, Field(default=False, description="True for a shadow model's list: never served")),
}
