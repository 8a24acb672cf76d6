"""Feast definitions for the `feast` CLI (`feast -c infra/feast plan`), built from the same settings
as the service: entities customer and terminal, Delta-backed push sources, the two feature views and
the feature service `fraud_v1`. `make feast-apply` renders feature_store.yaml next to this file."""

from services.common.config import load_settings
from services.features.adapters.feast_repo import definitions
from services.features.config import FeaturesSettings

customer, terminal, customer_spending, terminal_risk, fraud_v1 = definitions(load_settings(FeaturesSettings))
