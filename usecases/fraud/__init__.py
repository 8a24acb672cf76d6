"""The fraud use case (the handbook's): its declaration, loaded, and the names its tools and tests use."""

from services.common.contracts import contracts_for
from services.common.usecase import event_inputs, load_usecase

__all__ = [
    "CONTRACTS",
    "CUSTOMER_FEATURES",
    "EVENT_INPUTS",
    "FEATURE_NAMES",
    "FRAUD",
    "FRAUD_V1",
    "TERMINAL_FEATURES",
    "inputs",
]

FRAUD = load_usecase("fraud")
FRAUD_V1 = FRAUD.feature_service
CONTRACTS = contracts_for(FRAUD)  # .raw, .clean, .feedback, .featurized, .prediction
FEATURE_NAMES = FRAUD_V1.feature_names
CUSTOMER_FEATURES, TERMINAL_FEATURES = (list(view.features) for view in FRAUD_V1.views)
EVENT_INPUTS = [spec.name for spec in FRAUD.features.event_inputs]
inputs = event_inputs(FRAUD.features.event_inputs)
