"""Settings shared by every service: the Kafka block, the runner knobs and the loader with clear errors."""

from __future__ import annotations

import sys
from collections.abc import Callable
from operator import attrgetter
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.errors import ConfigError
from services.common.usecase import UseCase, load_usecase

__all__ = ["KafkaSettings", "ServiceSettings", "TelemetrySettings", "UseCaseSettings", "load_settings"]

S = TypeVar("S", bound=BaseSettings)


class KafkaSettings(BaseSettings):
    """How to reach Kafka; shared by every service under the KAFKA_ prefix."""

    model_config = SettingsConfigDict(
        env_ignore_empty=True, env_prefix="KAFKA_", extra="ignore", populate_by_name=True
    )

    bootstrap_servers: str | None = Field(
        default=None,
        description="An existing cluster (host:port,...). Unset: the embedded broker on 127.0.0.1.",
    )
    embedded_port: int = Field(
        default=9092,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("RTLOOP_BROKER_PORT", "KAFKA_EMBEDDED_PORT"),
        description="Port of the embedded broker (RTLOOP_BROKER_PORT).",
    )
    client_id: str = Field(default="rtloop", description="the client id the broker logs and quotas see")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = Field(
        default=None, description="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"
    )
    sasl_username: str | None = Field(default=None, description="the SASL user")
    sasl_password: SecretStr | None = Field(
        default=None, description="the SASL password: a secret, never logged"
    )
    ssl_ca_location: Path | None = Field(
        default=None, description="the CA certificate (PEM) the broker's certificate is checked against"
    )
    ssl_certificate_location: Path | None = Field(
        default=None, description="this client's certificate (PEM), for mutual TLS"
    )
    ssl_key_location: Path | None = Field(default=None, description="this client's private key (PEM)")
    ssl_key_password: SecretStr | None = Field(
        default=None, description="the private key's password: a secret, never logged"
    )

    @property
    def external(self) -> bool:
        """True when KAFKA_BOOTSTRAP_SERVERS names a cluster rtloop must not start."""
        return self.bootstrap_servers is not None

    @property
    def bootstrap(self) -> str:
        """The bootstrap address clients use."""
        return self.bootstrap_servers or f"127.0.0.1:{self.embedded_port}"

    def java_jaas(self) -> str | None:
        """The `sasl.jaas.config` line of a Java client (Spark's, Kafka's tools), values quoted for Java's
        tokenizer (secrets revealed here only); None without SASL."""
        if not self.sasl_mechanism:
            return None
        module = {
            "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
            "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
            "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
            "OAUTHBEARER": "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule",
        }[self.sasl_mechanism]
        password = self.sasl_password.get_secret_value() if self.sasl_password else ""
        user = _jaas_quoted(self.sasl_username or "")
        return f"{module} required username={user} password={_jaas_quoted(password)};"

    def librdkafka(self) -> dict[str, Any]:
        """The connection and security part of a librdkafka configuration (secrets revealed here only)."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "client.id": self.client_id,
            "security.protocol": self.security_protocol,
        }
        optional: dict[str, Any] = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password.get_secret_value() if self.sasl_password else None,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": (self.ssl_key_password.get_secret_value() if self.ssl_key_password else None),
        }
        conf.update({k: str(v) for k, v in optional.items() if v is not None})
        return conf


def _jaas_quoted(value: str) -> str:
    """A JAAS option value in double quotes, its backslashes and quotes escaped (Java's tokenizer)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class TelemetrySettings(BaseSettings):
    """OpenTelemetry export, off by default; shared under the OTEL_ prefix."""

    model_config = SettingsConfigDict(env_ignore_empty=True, env_prefix="RTLOOP_OTEL_", extra="ignore")

    exporter: Literal["none", "console", "otlp"] = Field(
        default="none", description="none, console (spans on stderr) or otlp (to the endpoint below)"
    )
    endpoint: str = Field(
        default="http://127.0.0.1:4318",
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT", "RTLOOP_OTEL_ENDPOINT"),
        description="the OTLP/HTTP collector the otlp exporter sends to",
    )


class UseCaseSettings(BaseSettings):
    """Which use case a process serves (RTLOOP_USECASE), for every settings class that needs it."""

    # an empty variable counts as unset, here and in every subclass (pydantic merges model_config)
    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", populate_by_name=True)

    usecase: str = Field(
        default="fraud",
        validation_alias=AliasChoices("RTLOOP_USECASE"),
        description="the use case (RTLOOP_USECASE): a name under usecases/, or a declaration's .yaml path",
    )

    # field → its default from the declaration, when neither the environment nor an argument sets it
    declared: ClassVar[dict[str, Callable[[UseCase], Any]]] = {}

    @model_validator(mode="before")
    @classmethod
    def _declared_defaults(cls, data: Any) -> Any:
        if not cls.declared or not isinstance(data, dict):
            return data
        name = data.get("usecase") or data.get("RTLOOP_USECASE") or cls.model_fields["usecase"].default
        declared = load_usecase(str(name))
        return {
            field: default(declared) for field, default in cls.declared.items() if field not in data
        } | data

    @property
    def declaration(self) -> UseCase:
        """The use case's validated declaration (ConfigError naming the file and key when it is wrong)."""
        return load_usecase(self.usecase)


class ServiceSettings(UseCaseSettings):
    """Knobs every service's runner has; each service subclasses this with its own env prefix."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)
    declared = {"dlq_topic": attrgetter("topics.dlq")}

    group_id: str = Field(default="rtloop", description="consumer group")
    dlq_topic: str = Field(default="", description="default: the use case's topics.dlq")
    max_batch_size: int = Field(
        default=500, ge=1, le=100_000, description="a batch holds at most this many messages"
    )
    max_batch_wait_ms: int = Field(
        default=100,
        ge=1,
        le=60_000,
        description="longest wait for a batch to fill (eager runners: for the first message)",
    )
    max_value_bytes: int = Field(
        default=1_048_576, ge=1, description="larger values are dead-lettered as too_large"
    )
    health_port: int = Field(default=8080, ge=0, le=65535, description="0 picks a free port")
    health_host: str = Field(default="127.0.0.1", description="where /healthz, /readyz and /metrics listen")
    shutdown_timeout_s: float = Field(
        default=10.0, gt=0, description="on SIGTERM, how long the current batch may take to finish"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="DEBUG, INFO, WARNING or ERROR"
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)


def usecase_argument(argv: list[str]) -> str | None:
    """The value of `--usecase NAME` (or `--usecase=NAME`) in a service's command line, if given."""
    for i, arg in enumerate(argv):
        if arg == "--usecase" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--usecase="):
            return arg.split("=", 1)[1]
    return None


def load_settings(cls: type[S]) -> S:
    """Build settings from the environment (and a `--usecase NAME` on the command line, which wins over
    RTLOOP_USECASE), or raise ConfigError naming the variable to set."""
    chosen = usecase_argument(sys.argv[1:]) if issubclass(cls, UseCaseSettings) else None
    try:
        return cls(usecase=chosen) if chosen else cls()
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        problems = []
        for err in exc.errors():
            name = prefix + "_".join(str(p) for p in err["loc"]).upper()
            problems.append(f"{name}: {err['msg']}")
        raise ConfigError(
            f"invalid configuration for {cls.__name__}: "
            + "; ".join(problems)
            + " (set it in the environment or .env)"
        ) from None
