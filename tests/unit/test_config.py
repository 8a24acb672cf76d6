"""Settings: one clear line for a bad setting, security passed through, secrets never shown."""

from __future__ import annotations

import sys

import pytest

from services.common.config import KafkaSettings, load_settings
from services.common.errors import ConfigError
from services.echo.config import EchoSettings
from tests.kafka_helpers import ROOT


def test_invalid_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHO_MAX_BATCH_SIZE", "lots")
    with pytest.raises(ConfigError) as err:
        load_settings(EchoSettings)
    message = str(err.value)
    assert "ECHO_MAX_BATCH_SIZE" in message
    assert "\n" not in message


def test_unset_bootstrap_means_the_embedded_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("RTLOOP_BROKER_PORT", "19092")
    kafka = KafkaSettings()
    assert not kafka.external
    assert kafka.bootstrap == "127.0.0.1:19092"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-0:9092,kafka-1:9092")
    assert KafkaSettings().external
    assert KafkaSettings().bootstrap == "kafka-0:9092,kafka-1:9092"


def test_services_share_the_kafka_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:29092")
    monkeypatch.setenv("ECHO_OUTPUT_TOPIC", "out")
    echo = load_settings(EchoSettings)
    assert echo.kafka.bootstrap == "broker:29092"
    assert echo.output_topic == "out"


def test_security_settings_reach_librdkafka_and_secrets_stay_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("KAFKA_SSL_CA_LOCATION", "/etc/ssl/ca.pem")
    kafka = KafkaSettings()
    conf = kafka.librdkafka()
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert conf["sasl.username"] == "svc"
    assert conf["sasl.password"] == "hunter2"
    assert conf["ssl.ca.location"] == "/etc/ssl/ca.pem"
    shown = repr(kafka) + str(kafka) + kafka.model_dump_json()
    assert "hunter2" not in shown


def test_unknown_security_protocol_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "TLS")
    with pytest.raises(ConfigError, match="SECURITY_PROTOCOL"):
        load_settings(KafkaSettings)


def test_a_usecase_on_the_command_line_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    sensor = str(ROOT / "tests" / "usecases" / "sensor" / "usecase.yaml")
    monkeypatch.setenv("RTLOOP_USECASE", "fraud")
    monkeypatch.setattr(sys, "argv", ["services.echo", "--usecase", sensor])
    settings = load_settings(EchoSettings)
    assert (settings.usecase, settings.input_topic, settings.dlq_topic) == (
        sensor,
        "readings.raw",
        "readings.dlq",
    )
    monkeypatch.setattr(sys, "argv", ["services.echo", f"--usecase={sensor}"])
    assert load_settings(EchoSettings).input_topic == "readings.raw"
    monkeypatch.setattr(sys, "argv", ["services.echo"])
    assert load_settings(EchoSettings).input_topic == "transactions.raw"
