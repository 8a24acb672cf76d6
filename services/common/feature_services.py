"""Feature services as data: which online views a model reads, in model input order, and where."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import SecretStr

from services.common.errors import ConfigError

__all__ = ["FeatureServiceSpec", "ViewSpec", "online_store_config"]


@dataclass(frozen=True)
class ViewSpec:
    """One feature view as stored online: its name, its single join key, its numbers' names (model
    inputs) and its lists' names (text values, e.g. an entity's last items)."""

    name: str
    join_key: str
    features: tuple[str, ...]
    lists: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeatureServiceSpec:
    """A Feast feature service: its views; the model's inputs are the views' features in order."""

    name: str
    views: tuple[ViewSpec, ...]

    @property
    def feature_names(self) -> list[str]:
        """Model input order: every view's features, view after view."""
        return [f for view in self.views for f in view.features]


def online_store_config(redis_url: SecretStr | str | None, data_dir: Path) -> dict[str, Any]:
    """Feast's online store block: Redis when REDIS_URL is set (redis://[:password@]host:port[/db]),
    sqlite under `data_dir` otherwise. It holds the password (Feast connects with it): never show it."""
    raw = redis_url.get_secret_value() if isinstance(redis_url, SecretStr) else redis_url
    if not raw:
        return {"type": "sqlite", "path": str(data_dir / "online.db")}
    url = urlparse(raw)
    if url.scheme not in {"redis", "rediss"} or not url.hostname:
        raise ConfigError(
            "REDIS_URL must look like redis://[:password@]host:6379/0 (its value is not shown: it may hold "
            f"a password); it has scheme {url.scheme or 'none'!r} and {'a' if url.hostname else 'no'} host"
        )
    try:
        port = url.port or 6379
    except ValueError:  # its message holds only the port
        raise ConfigError("REDIS_URL's port is not a number: redis://[:password@]host:6379/0") from None
    parts = [f"{url.hostname}:{port}", f"db={(url.path or '/0').strip('/') or '0'}"]
    if url.password:
        parts.append(f"password={url.password}")
    if url.scheme == "rediss":
        parts.append("ssl=true")
    return {"type": "redis", "connection_string": ",".join(parts)}
