"""FeaturizedTransaction v1: a clean transaction whose features are readable online."""

from __future__ import annotations

from pydantic import Field

from services.common.contracts.base import Timestamp
from services.common.contracts.clean import CleanTransactionV1

__all__ = ["FeaturizedTransactionV1"]


class FeaturizedTransactionV1(CleanTransactionV1):
    """Emitted only after the event's features were written to the online store."""

    features_written_at: Timestamp = Field(description="When the online write became durable")
    feature_service: str = Field(min_length=1, description="Feast feature service to look up")
    feature_event_time: Timestamp | None = Field(
        default=None,
        description="Timestamp of this event's customer row online (event time + same-second rank): "
        "a lookup that returns a newer row saw a later transaction of the same customer",
    )
    customer_features: dict[str, float] | None = Field(
        default=None,
        description="This transaction's own row of the customer view, as written online for it (its "
        "windows count the transaction itself). A later transaction of the same customer replaces that "
        "row online, possibly before the scorer reads it: the scorer uses these values for that view",
    )
    online_features: dict[str, float | None] | None = Field(
        default=None,
        description="The 15 inputs as read back from the online store right after the write "
        "(only when the features service runs with FEATURES_VERIFY_ONLINE=true)",
    )
