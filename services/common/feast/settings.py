"""Where the feature store lives (prefix FEATURES_; REDIS_URL picks the online store): the settings the
features service writes by and training reads by."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.config import UseCaseSettings
from services.common.usecase import FeatureView

__all__ = ["FeatureStoreSettings"]

_ROOT = Path(__file__).resolve().parents[3]


class FeatureStoreSettings(UseCaseSettings):
    """The lake, the Feast repository, project and data, and the online store."""

    model_config = SettingsConfigDict(env_prefix="FEATURES_", extra="ignore", populate_by_name=True)

    lake_root: Path = Field(
        default=_ROOT / "data" / "lake",
        description="the Delta tables of feature rows (and ingest's events table the history reads)",
    )
    feast_repo: Path = Field(
        default=_ROOT / "infra" / "feast",
        description="the Feast repository folder (feature_store.yaml is rendered there)",
    )
    feast_project: str = Field(default="rtloop", pattern=r"^[a-z0-9_]+$", description="the Feast project")
    feast_data: Path = Field(default=_ROOT / "data" / "feast", description="registry and sqlite online store")
    redis_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "FEATURES_REDIS_URL"),
        description="redis://[:password@]host:port/db: Redis online store (a secret, never shown); unset: "
        "sqlite under feast_data",
    )

    @property
    def feature_service(self) -> str:
        """The use case's feature service (the model's inputs)."""
        return self.declaration.features.service

    def view_table(self, view: FeatureView) -> Path:
        """A view's Delta table of feature rows (Feast's offline source)."""
        return self.lake_root / view.table_name

    @property
    def events_table(self) -> Path:
        """ingest's Delta table of clean events (the history's entity rows)."""
        return self.lake_root / self.declaration.event.table
