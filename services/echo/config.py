"""Settings of the echo service (prefix ECHO_)."""

from __future__ import annotations

from operator import attrgetter

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.config import ServiceSettings

__all__ = ["EchoSettings"]


class EchoSettings(ServiceSettings):
    """Where echo reads and writes."""

    model_config = SettingsConfigDict(env_prefix="ECHO_", extra="ignore")
    declared = ServiceSettings.declared | {"input_topic": attrgetter("topics.raw")}

    group_id: str = "rtloop-echo"
    input_topic: str = Field(default="", description="default: the use case's topics.raw")
    output_topic: str = "transactions.echo"
