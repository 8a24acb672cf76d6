"""Settings of the rtloop tools (prefix RTLOOP_): cache folder, lake, embedded broker, topics file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.config import KafkaSettings, UseCaseSettings

__all__ = [
    "PROJECT_ROOT",
    "ToolSettings",
    "child_environment",
    "choose_usecase",
    "service_environment",
    "use_defaults",
    "uv_command",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class ToolSettings(UseCaseSettings):
    """Where rtloop keeps its files and how the embedded broker runs."""

    model_config = SettingsConfigDict(env_prefix="RTLOOP_", extra="ignore", populate_by_name=True)

    cache_dir: Path = Field(default=PROJECT_ROOT / ".cache" / "rtloop", description="jars, broker data, logs")
    lake_root: Path = Field(
        default=PROJECT_ROOT / "data" / "lake", description="the Delta tables the tools read and reset"
    )
    topics_file: Path = Field(
        default=PROJECT_ROOT / "infra" / "topics.yaml", description="the topics `rtloop topics apply` creates"
    )
    schemas_dir: Path = Field(
        default=PROJECT_ROOT / "infra" / "schemas",
        description="where `rtloop schemas export` writes the JSON Schemas",
    )
    k8s_crds: Path = Field(
        default=PROJECT_ROOT.parent / "shared" / "k8s-crds",
        description="the KEDA and Strimzi CRD files `rtloop k8s validate` reads (not copied into the repo)",
    )
    controller_port: int | None = Field(
        default=None, ge=1, le=65535, description="KRaft controller port; default broker port + 1"
    )
    broker_security: Literal["plaintext", "sasl_ssl"] = Field(
        default="plaintext",
        description="the embedded broker's listener: plaintext, or sasl_ssl (TLS with client certificates "
        "and SCRAM-SHA-512; certificates made with openssl at the first start, never committed)",
    )
    internal_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="sasl_ssl: the inter-broker TLS port; default broker port + 2",
    )
    broker_nodes: int = Field(
        default=1,
        ge=1,
        le=5,
        description="nodes of the embedded KRaft cluster, each a broker and a controller on the broker "
        "port + 3 per node; 3 or more replicate every topic 3 times with min.insync.replicas 2",
    )
    broker_heap: str = Field(default="1g", pattern=r"^\d+[mg]$", description="the embedded broker's JVM heap")
    broker_start_timeout_s: float = Field(
        default=60.0, gt=0, description="how long `rtloop broker start` waits for the broker to serve clients"
    )
    java: str = Field(default="java", description="the java executable (Java 17)")
    jars: Path | None = Field(default=None, description="jars folder; default <cache_dir>/jars")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    redis_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "RTLOOP_REDIS_URL"),
        description="the services' Redis online store; `rtloop up` starts a local one that is down",
    )
    scaledobject: Path = Field(
        default=PROJECT_ROOT / "k8s" / "base" / "scaledobject.yaml",
        description="the scorer's KEDA ScaledObject: `rtloop up` scales scorer processes with its numbers",
    )
    restart_backoff_s: float = Field(
        default=1.0, gt=0, description="first restart delay of a crashed service"
    )
    restart_backoff_max_s: float = Field(
        default=30.0, gt=0, description="the supervisor's longest wait before restarting a crashed service"
    )
    liveness_timeout_s: float = Field(
        default=90.0, gt=0, description="a service whose /healthz fails this long is killed and restarted"
    )
    stop_timeout_s: float = Field(default=60.0, gt=0, description="SIGTERM → SIGKILL grace on `rtloop down`")
    up_timeout_s: float = Field(default=300.0, gt=0, description="how long `rtloop up` waits for health")

    @property
    def data_root(self) -> Path:
        """The folder holding the lake, the Feast data, the features state and the model registry."""
        return self.lake_root.parent

    @property
    def supervisor_dir(self) -> Path:
        """The supervisor's pid and state files."""
        return self.cache_dir / "supervisor"

    @property
    def logs_dir(self) -> Path:
        """Where every supervised process logs."""
        return self.cache_dir / "logs"

    @property
    def jars_dir(self) -> Path:
        """Where `make jars` puts the resolved jars (kafka/ and spark/)."""
        return self.jars or self.cache_dir / "jars"

    @property
    def simulated_table(self) -> Path:
        """The Delta table `rtloop simulate` writes and `rtloop replay` reads."""
        return self.lake_root / "simulated_transactions"


def choose_usecase(name: str) -> None:
    """`rtloop --usecase NAME`: this command's settings and the services it starts serve NAME."""
    os.environ["RTLOOP_USECASE"] = name


def use_defaults(variables: dict[str, str]) -> None:
    """Set the variables this environment does not set already: this process's settings loaded from now
    on, and the services it starts, see them (`rtloop` joining the embedded broker's SASL_SSL mode)."""
    for name, value in variables.items():
        os.environ.setdefault(name, value)


def _set_variables() -> dict[str, str]:
    """This process's environment without its empty variables: an empty one counts as unset."""
    return {name: value for name, value in os.environ.items() if value}


def child_environment(**extra: str) -> dict[str, str]:
    """This process's environment plus `extra`, for a service started as a child process."""
    return _set_variables() | extra


def service_environment(defaults: dict[str, str], forced: dict[str, str]) -> dict[str, str]:
    """A child's environment: `defaults` unless this environment sets them, then `forced` over all."""
    return defaults | _set_variables() | forced


def uv_command() -> list[str]:
    """How to run uv here: `uv` on the PATH, else `python3 -m uv` (as the Makefile finds it)."""
    return [found] if (found := shutil.which("uv")) else ["python3", "-m", "uv"]
