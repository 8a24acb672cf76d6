"""The Feast repository from settings and the use case: entities, Delta-backed sources, views, service."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource, PushSource, ValueType
from feast.data_format import DeltaFormat
from feast.repo_config import RepoConfig
from feast.types import Array, Float64, String

from services.common.feast.settings import FeatureStoreSettings
from services.common.feature_services import ViewSpec
from services.common.feature_services import online_store_config as _online_store_config
from services.common.usecase.views import DAY_S

__all__ = [
    "apply",
    "definitions",
    "online_store_config",
    "open_store",
    "render_yaml",
    "repo_config",
]


def online_store_config(settings: FeatureStoreSettings) -> dict[str, Any]:
    """Redis when REDIS_URL is set (redis://[:password@]host:port[/db]), sqlite otherwise."""
    return _online_store_config(settings.redis_url, settings.feast_data)


def _config_dict(settings: FeatureStoreSettings) -> dict[str, Any]:
    return {
        "project": settings.feast_project,
        "provider": "local",
        "registry": str(settings.feast_data / "registry.db"),
        "online_store": online_store_config(settings),
        "offline_store": {"type": "duckdb"},  # Delta-aware (the file store reads the folder as plain Parquet)
        "entity_key_serialization_version": 3,
    }


def repo_config(settings: FeatureStoreSettings) -> RepoConfig:
    """The RepoConfig feature_store.yaml would hold, built from settings."""
    settings.feast_data.mkdir(parents=True, exist_ok=True)
    return RepoConfig(repo_path=settings.feast_repo, **_config_dict(settings))


def render_yaml(settings: FeatureStoreSettings, path: Path | None = None) -> Path:
    """Write feature_store.yaml (for the `feast` CLI) into the repository folder."""
    target = path or settings.feast_repo / "feature_store.yaml"
    settings.feast_data.mkdir(parents=True, exist_ok=True)
    config = _config_dict(settings)
    header = "# Rendered by `rtloop features apply` from the FEATURES_* / REDIS_URL settings. Do not edit.\n"
    store = config["online_store"]
    if "password=" in store.get("connection_string", ""):  # Feast expands ${VAR} when it loads the file
        store["connection_string"] = re.sub(
            r"password=[^,]*", "password=${REDIS_PASSWORD}", store["connection_string"]
        )
        header += "# The Redis password is not written here: the feast CLI reads it from REDIS_PASSWORD.\n"
    target.write_text(header + yaml.safe_dump(config, sort_keys=False))
    return target


def definitions(settings: FeatureStoreSettings) -> list[Any]:
    """From the use case's declaration: an entity per view's key, each view behind a push source over
    its Delta table of feature rows, and the feature service over them all."""
    declared = settings.declaration
    entities: dict[str, Entity] = {}
    views: list[Any] = []
    for view, spec in zip(declared.features.views, declared.feature_service.views, strict=True):
        entity = entities.get(view.entity)
        if entity is None:  # a key field `<x>_id` → entity `<x>`: an entity is named after what it is
            entity = Entity(
                name=view.entity.removesuffix("_id"), join_keys=[view.entity], value_type=ValueType.STRING
            )
            entities[view.entity] = entity
        views.append(_view(spec, entity, settings.view_table(view), view.longest_s + DAY_S))
    service = FeatureService(name=declared.features.service, features=views)
    return [*entities.values(), *views, service]


def _view(spec: ViewSpec, entity: Entity, table: Path, ttl_s: int) -> FeatureView:
    batch = FileSource(
        name=f"{table.name}_delta",
        path=str(table),
        file_format=DeltaFormat(),
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
    )
    return FeatureView(
        name=spec.name,
        entities=[entity],
        ttl=timedelta(seconds=ttl_s),
        schema=[
            *(Field(name=f, dtype=Float64) for f in spec.features),
            *(Field(name=n, dtype=Array(String)) for n in spec.lists),
        ],
        source=PushSource(name=f"{spec.name}_push", batch_source=batch),
        online=True,
    )


def open_store(settings: FeatureStoreSettings) -> FeatureStore:
    """A FeatureStore on the rendered configuration (no file needed)."""
    return FeatureStore(config=repo_config(settings))


def apply(settings: FeatureStoreSettings) -> FeatureStore:
    """Register the definitions and create the online tables (idempotent)."""
    store = open_store(settings)
    store.apply(definitions(settings))
    return store
