"""Feast definitions for the `feast` CLI (`feast -c infra/feast plan`), built from the same settings and
use-case declaration (RTLOOP_USECASE) as the service: an entity per view's key, Delta-backed push
sources, the feature views and the feature service. `make feast-apply` renders feature_store.yaml here."""

from services.common.config import load_settings
from services.common.feast.repo import definitions
from services.common.feast.settings import FeatureStoreSettings

globals().update(
    {f"{type(d).__name__.lower()}_{d.name}": d for d in definitions(load_settings(FeatureStoreSettings))}
)
