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
        description="Timestamp of this event's row online in the view keyed like the stream (event time "
        "+ same-second rank): a lookup that returns a newer row saw a later event of the same entity",
    )
    features: dict[str, float] | None = Field(
        default=None,
        description="This event's own rows of every view of the feature service, as written online for "
        "it. A later event of the same entity replaces a row online, possibly before the scorer reads "
        "it: the scorer uses these values (point-in-time), and the online rows only where absent",
    )
    customer_features: dict[str, float] | None = Field(
        default=None,
        description="Deprecated (written by features before `features`; still read): this "
        "transaction's own row of the customer view",
    )
    online_features: dict[str, float | None] | None = Field(
        default=None,
        description="The 15 inputs as read back from the online store right after the write "
        "(only when the features service runs with FEATURES_VERIFY_ONLINE=true)",
    )
