"""Use cases as declarations: the schema, the event, the window specs and the loader (DESIGN.md §2)."""

from services.common.usecase.inputs import EventInputs, event_inputs
from services.common.usecase.load import USECASES, declaration_path, load_usecase
from services.common.usecase.schema import UseCase
from services.common.usecase.views import DAY_S, Aggregation, EventFields, FeatureView, FeedbackFields

__all__ = [
    "DAY_S",
    "USECASES",
    "Aggregation",
    "EventFields",
    "EventInputs",
    "FeatureView",
    "FeedbackFields",
    "UseCase",
    "declaration_path",
    "event_inputs",
    "load_usecase",
]
