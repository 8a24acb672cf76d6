"""The window engine of one view of a use case, from its declaration (pure: no I/O)."""

from __future__ import annotations

from services.common.usecase import UseCase, event_inputs
from services.features.handlers import FeatureEngine
from services.features.state import StateTable

__all__ = ["view_engine"]


def view_engine(declared: UseCase, index: int, lateness_days: int, table: StateTable) -> FeatureEngine:
    """View `index`'s engine over one partition's table; the first view (keyed like the clean stream)
    also computes the event's own inputs, which its row holds."""
    first = index == 0
    return FeatureEngine(
        [declared.features.views[index]],
        [table],
        declared.event_fields,
        declared.feedback_fields,
        lateness_days,
        event_inputs(declared.features.event_inputs) if first else None,
        stream_keyed=first,
    )
