"""Settings: one clear line for a bad setting, security passed through, secrets never shown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """`KAFKA_BOOTSTRAP_SERVERS=` (as compose files and shells leave it) means the embedded broker, and
    an empty service variable its default, in the process and in the children rtloop starts."""
    from services.tools.config import service_environment

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "")
    monkeypatch.setenv("RTLOOP_BROKER_PORT", "19092")
    monkeypatch.setenv("ECHO_MAX_BATCH_SIZE", "")
    assert not KafkaSettings().external and KafkaSettings().bootstrap == "127.0.0.1:19092"
    echo = load_settings(EchoSettings)
    assert echo.max_batch_size == EchoSettings.model_fields["max_batch_size"].default
    child = service_environment({"ECHO_MAX_BATCH_SIZE": "7"}, {})
    assert child["ECHO_MAX_BATCH_SIZE"] == "7" and "KAFKA_BOOTSTRAP_SERVERS" not in child


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


def test_the_redis_password_is_in_no_error_and_no_rendered_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REDIS_URL's password: not in a malformed URL's error, the settings' repr or the rendered
    feature_store.yaml, which Feast still loads with it (from REDIS_PASSWORD)."""
    from feast.repo_config import load_repo_config

    from services.common.feast.repo import render_yaml
    from services.common.feast.settings import FeatureStoreSettings
    from services.common.feature_services import online_store_config

    secret = "s3cr3t-pw"
    for bad in (f"http://:{secret}@host:6379/0", f"redis//:{secret}@host", f"redis://:{secret}@host:port/0"):
        with pytest.raises(ConfigError) as err:
            online_store_config(bad, tmp_path)
        assert secret not in str(err.value) and "REDIS_URL" in str(err.value)
    monkeypatch.setenv("REDIS_URL", f"redis://:{secret}@127.0.0.1:6379/0")
    settings = FeatureStoreSettings(feast_repo=tmp_path, feast_data=tmp_path / "data")
    assert secret not in repr(settings) + settings.model_dump_json()
    rendered = render_yaml(settings)
    assert secret not in rendered.read_text()
    monkeypatch.setenv("REDIS_PASSWORD", secret)
    loaded = load_repo_config(tmp_path, rendered)
    assert f"password={secret}" in loaded.online_store.connection_string


@pytest.mark.parametrize(
    "argv",
    [
        ["rtloop", "demo", "--usecase", "recommendations", "--keep-broker"],
        ["rtloop", "--usecase=recommendations", "demo", "--keep-broker"],
    ],
)
def test_rtloop_reads_the_usecase_anywhere_on_the_line_before_its_commands_are_parsed(
    argv: list[str],
) -> None:
    from services.tools.cli.app import take_usecase

    assert take_usecase(argv) == "recommendations"
    assert argv == ["rtloop", "demo", "--keep-broker"]


def test_each_use_case_mounts_its_own_demo() -> None:
    def help_of(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "services.tools.cli", *args, "--help"],
            check=False,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=os.environ | {"RTLOOP_USECASE": "fraud"},  # what the line says wins
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "MovieLens" in help_of("demo", "--usecase", "recommendations")
    assert "book" in help_of("demo")
