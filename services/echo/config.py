"""Settings of the echo service (prefix ECHO_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.common.config import ServiceSettings

__all__ = ["EchoSettings"]


class EchoSettings(ServiceSettings):
    """Where echo reads and writes."""

    model_config = SettingsConfigDict(env_prefix="ECHO_", extra="ignore")

    group_id: str = "rtloop-echo"
    input_topic: str = "transactions.raw"
    output_topic: str = "transactions.echo"
