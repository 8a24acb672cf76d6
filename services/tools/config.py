"""Settings of the rtloop tools (prefix RTLOOP_): cache folder, lake, embedded broker, topics file."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.config import KafkaSettings

__all__ = ["PROJECT_ROOT", "ToolSettings", "child_environment"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class ToolSettings(BaseSettings):
    """Where rtloop keeps its files and how the embedded broker runs."""

    model_config = SettingsConfigDict(env_prefix="RTLOOP_", extra="ignore")

    cache_dir: Path = Field(default=PROJECT_ROOT / ".cache" / "rtloop")
    lake_root: Path = Field(default=PROJECT_ROOT / "data" / "lake")
    topics_file: Path = Field(default=PROJECT_ROOT / "infra" / "topics.yaml")
    schemas_dir: Path = Field(default=PROJECT_ROOT / "infra" / "schemas")
    k8s_crds: Path = Field(
        default=PROJECT_ROOT.parent / "shared" / "k8s-crds",
        description="the KEDA and Strimzi CRD files `rtloop k8s validate` reads (not copied into the repo)",
    )
    controller_port: int | None = Field(
        default=None, ge=1, le=65535, description="KRaft controller port; default broker port + 1"
    )
    broker_heap: str = Field(default="1g", pattern=r"^\d+[mg]$")
    broker_start_timeout_s: float = Field(default=60.0, gt=0)
    java: str = "java"
    jars: Path | None = Field(default=None, description="jars folder; default <cache_dir>/jars")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)

    @property
    def jars_dir(self) -> Path:
        """Where `make jars` puts the resolved jars (kafka/ and spark/)."""
        return self.jars or self.cache_dir / "jars"

    @property
    def simulated_table(self) -> Path:
        """The Delta table `rtloop simulate` writes and `rtloop replay` reads."""
        return self.lake_root / "simulated_transactions"


def child_environment(**extra: str) -> dict[str, str]:
    """This process's environment plus `extra`, for a service started as a child process."""
    return dict(os.environ) | extra
