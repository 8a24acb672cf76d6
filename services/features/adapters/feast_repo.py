"""The Feast repository from settings: entities, Delta-backed push sources, views, `fraud_v1`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource, PushSource, ValueType
from feast.data_format import DeltaFormat
from feast.repo_config import RepoConfig
from feast.types import Float64

from services.common.feature_services import FRAUD_V1, ViewSpec
from services.common.feature_services import online_store_config as _online_store_config
from services.features.config import FeaturesSettings

__all__ = [
    "apply",
    "definitions",
    "online_store_config",
    "open_store",
    "render_yaml",
    "repo_config",
]


def online_store_config(settings: FeaturesSettings) -> dict[str, Any]:
    """Redis when REDIS_URL is set (redis://[:password@]host:port[/db]), sqlite otherwise."""
    return _online_store_config(settings.redis_url, settings.feast_data)


def _config_dict(settings: FeaturesSettings) -> dict[str, Any]:
    return {
        "project": settings.feast_project,
        "provider": "local",
        "registry": str(settings.feast_data / "registry.db"),
        "online_store": online_store_config(settings),
        "offline_store": {"type": "duckdb"},  # Delta-aware (the file store reads the folder as plain Parquet)
        "entity_key_serialization_version": 3,
    }


def repo_config(settings: FeaturesSettings) -> RepoConfig:
    """The RepoConfig feature_store.yaml would hold, built from settings."""
    settings.feast_data.mkdir(parents=True, exist_ok=True)
    return RepoConfig(repo_path=settings.feast_repo, **_config_dict(settings))


def render_yaml(settings: FeaturesSettings, path: Path | None = None) -> Path:
    """Write feature_store.yaml (for the `feast` CLI) into the repository folder."""
    target = path or settings.feast_repo / "feature_store.yaml"
    settings.feast_data.mkdir(parents=True, exist_ok=True)
    header = "# Rendered by `rtloop features apply` from the FEATURES_* / REDIS_URL settings. Do not edit.\n"
    target.write_text(header + yaml.safe_dump(_config_dict(settings), sort_keys=False))
    return target


def definitions(settings: FeaturesSettings) -> list[Any]:
    """Entities, Delta batch sources behind push sources, the two views and `fraud_v1`."""
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)
    terminal = Entity(name="terminal", join_keys=["terminal_id"], value_type=ValueType.STRING)

    def view(spec: ViewSpec, entity: Entity, table: Path, ttl_days: int) -> FeatureView:
        batch = FileSource(
            name=f"{table.name}_delta",
            path=str(table),
            file_format=DeltaFormat(),
            timestamp_field="event_timestamp",
            created_timestamp_column="created",
        )
        push = PushSource(name=f"{spec.name}_push", batch_source=batch)
        return FeatureView(
            name=spec.name,
            entities=[entity],
            ttl=timedelta(days=ttl_days),
            schema=[Field(name=f, dtype=Float64) for f in spec.features],
            source=push,
            online=True,
        )

    customer_spec, terminal_spec = FRAUD_V1.views
    customers = view(customer_spec, customer, settings.customer_table, 31)
    terminals = view(terminal_spec, terminal, settings.terminal_table, 31)
    service = FeatureService(name=settings.feature_service, features=[customers, terminals])
    return [customer, terminal, customers, terminals, service]


def open_store(settings: FeaturesSettings) -> FeatureStore:
    """A FeatureStore on the rendered configuration (no file needed)."""
    return FeatureStore(config=repo_config(settings))


def apply(settings: FeaturesSettings) -> FeatureStore:
    """Register the definitions and create the online tables (idempotent)."""
    store = open_store(settings)
    store.apply(definitions(settings))
    return store
