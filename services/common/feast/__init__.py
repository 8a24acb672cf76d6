"""The Feast feature store as features writes it and training reads it: where it lives, its repository
rendered from the declaration, and point-in-time training sets."""

from services.common.feast.settings import FeatureStoreSettings

__all__ = ["FeatureStoreSettings"]
