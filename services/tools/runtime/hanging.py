"""Transactions a broker crash left hanging: found and aborted with Kafka's own kafka-transactions tool.

A broker SIGKILLed between writing a transaction's PREPARE_COMMIT and its markers reloads it on restart
and sends the markers again; Kafka 4.4 skips every partition whose leader its metadata does not know
yet ("likely deleted already"), and completes the transaction without them. Those partitions keep an
open transaction: read_committed consumers stop at it, and the group's committed offsets cannot be
read (a pending transactional offset commit), so the consumer group cannot start either. Kafka's
remedy is `kafka-transactions.sh find-hanging` and `abort` (KIP-664); this runs them from the cached
jars, data partitions first and the group's offsets partition last: while the offsets are unreadable
the group consumes nothing, so no new transaction of the same producer joins (and commits) a hanging
one before it is aborted. The producer that wrote it rewound its batch and processes it again."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from services.common.config import KafkaSettings
from services.common.errors import ConfigError
from services.tools.config import ToolSettings, child_environment

__all__ = ["Hanging", "abort_hanging", "client_properties", "find_hanging"]

_TOOL = "org.apache.kafka.tools.TransactionsCommand"
_PROVIDERS = "org.apache.kafka.automatic.config.providers"  # the providers a client may use
_ENV_PROVIDER = "org.apache.kafka.common.config.provider.EnvVarConfigProvider"
_OFFSETS = "__consumer_offsets"


@dataclass(frozen=True)
class Hanging:
    """One partition's hanging transaction, as find-hanging reports it."""

    topic: str
    partition: int
    producer_id: int
    producer_epoch: int
    start_offset: int
    minutes: int


def _run(s: ToolSettings, *args: str, gone_ok: bool = False) -> str | None:
    """The tool's output; None when `gone_ok` and the transaction is no longer open."""
    jars = s.jars_dir / "kafka"
    if not any(jars.glob("kafka-tools-*.jar")):
        raise ConfigError(f"kafka-tools missing in {jars}: run `make jars`")
    kafka = s.kafka if s.kafka.external else _embedded_client(s)
    properties, secrets = client_properties(kafka)
    with tempfile.TemporaryDirectory(prefix="rtloop-transactions-") as folder:
        config = Path(folder) / "client.properties"
        config.write_text(properties)
        cmd = [s.java, "-Xmx256m", f"-D{_PROVIDERS}={_ENV_PROVIDER}", "-cp", str(jars / "*"), _TOOL]
        cmd += ["--bootstrap-server", kafka.bootstrap, "--command-config", str(config), *args]
        try:
            done = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
                env=child_environment(**secrets),
            )
        except subprocess.TimeoutExpired:
            raise ConfigError(
                f"kafka-transactions {args[0]} got no answer within 120 s: is the cluster at "
                f"{kafka.bootstrap} up (`rtloop broker status`)?"
            ) from None
    if done.returncode != 0:
        if gone_ok and "Could not find any open transactions" in done.stdout:
            return None  # ended meanwhile
        raise ConfigError(
            f"kafka-transactions {args[0]} failed: {(done.stdout + done.stderr).strip()[-1500:]}: is the "
            f"cluster at {kafka.bootstrap} up (`rtloop broker status`), and are the KAFKA_ security "
            "settings right?"
        )
    return done.stdout


def _embedded_client(s: ToolSettings) -> KafkaSettings:
    from services.tools.runtime.broker import EmbeddedBroker

    return EmbeddedBroker(s).client


def client_properties(kafka: KafkaSettings) -> tuple[str, dict[str, str]]:
    """A Java client's properties for `kafka`'s security settings, and the environment they read their
    secrets from (Kafka's EnvVarConfigProvider): the file names no password and holds no key."""
    props: dict[str, str] = {"security.protocol": kafka.security_protocol}
    env: dict[str, str] = {}

    def secret(name: str, value: str) -> str:
        env[f"RTLOOP_TX_{name}"] = value
        return f"${{env:RTLOOP_TX_{name}}}"

    if jaas := kafka.java_jaas():
        props["sasl.mechanism"] = str(kafka.sasl_mechanism)
        props["sasl.jaas.config"] = secret("JAAS", jaas)
    if kafka.ssl_ca_location:
        props["ssl.truststore.type"] = "PEM"
        props["ssl.truststore.certificates"] = secret("CA", kafka.ssl_ca_location.read_text())
    if kafka.ssl_certificate_location and kafka.ssl_key_location:
        props["ssl.keystore.type"] = "PEM"
        props["ssl.keystore.certificate.chain"] = secret("CERT", kafka.ssl_certificate_location.read_text())
        props["ssl.keystore.key"] = secret("KEY", kafka.ssl_key_location.read_text())
        if kafka.ssl_key_password:
            props["ssl.key.password"] = secret("KEY_PASSWORD", kafka.ssl_key_password.get_secret_value())
    if env:
        props |= {"config.providers": "env", "config.providers.env.class": _ENV_PROVIDER}
    return "".join(f"{k}={v}\n" for k, v in props.items()), env


def parse_hanging(table: str) -> list[Hanging]:
    """The rows of find-hanging's table (a header, then one tab-separated row per partition)."""
    rows = [line.split() for line in table.splitlines()[1:] if line.strip()]
    return [
        Hanging(topic, int(part), int(pid), int(epoch), int(start), int(minutes))
        for topic, part, pid, epoch, _coordinator_epoch, start, _last, minutes in rows
    ]


def find_hanging(s: ToolSettings, broker_ids: list[int], older_than_min: int = 1) -> list[Hanging]:
    """Open transactions on these brokers' partitions, older than `older_than_min` minutes, that their
    coordinator no longer knows as ongoing."""
    found: list[Hanging] = []
    for broker in broker_ids:
        out = _run(
            s, "find-hanging", "--broker-id", str(broker), "--max-transaction-timeout", str(older_than_min)
        )
        found += parse_hanging(out or "")
    return found


def abort_hanging(s: ToolSettings, hanging: list[Hanging]) -> list[Hanging]:
    """Abort each (data partitions first, the offsets partition last); what was aborted."""
    done = []
    for h in sorted(hanging, key=lambda h: (h.topic == _OFFSETS, h.topic, h.partition)):
        where = ("--topic", h.topic, "--partition", str(h.partition), "--start-offset", str(h.start_offset))
        if _run(s, "abort", *where, gone_ok=True) is not None:
            done.append(h)
    return done
