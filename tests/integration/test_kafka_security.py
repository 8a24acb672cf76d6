"""Kafka security for real: the embedded broker's SASL_SSL listener (TLS, client certificates required,
SCRAM-SHA-512). A client with the password and a certificate gets through; a wrong password, no
certificate or plaintext is refused with an error that says which, and never shows the password. A
service on the shared runner and ingest's Spark (its JAAS password escaped, its client certificate as
a PEM keystore) run through it, and their logs hold no password."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from pydantic import SecretStr

from services.common.config import KafkaSettings
from services.common.errors import ConfigError, TransientError
from services.common.kafka.clients import make_admin, wait_reachable
from tests.factories import tx
from tests.ingest_helpers import IngestRun
from tests.kafka_helpers import Broker, consume, embedded_broker
from tests.scorer_helpers import produce_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NASTY = 'pa"ss\\word with spaces'  # a JAAS value needs its quote and backslash escaped


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with embedded_broker(tmp_path_factory.mktemp("secure-cache"), "sasl_ssl") as broker:
        yield broker


def test_a_client_needs_the_password_and_a_certificate(secure: Broker) -> None:
    assert secure.kafka.security_protocol == "SASL_SSL" and wait_reachable(secure.kafka) == 1
    wrong = secure.kafka.model_copy(update={"sasl_password": SecretStr("not-the-password")})
    with pytest.raises(ConfigError, match=r"refused this client.*SASL authentication") as refused:
        wait_reachable(wrong)
    assert "not-the-password" not in str(refused.value)
    anonymous = secure.kafka.model_copy(update={"ssl_certificate_location": None, "ssl_key_location": None})
    with pytest.raises(ConfigError, match=r"refused this client.*(certificate|SSL)"):
        wait_reachable(anonymous)
    with pytest.raises(TransientError, match="unreachable"):
        wait_reachable(KafkaSettings(embedded_port=secure.kafka.embedded_port), timeout_s=5)


def test_a_runner_service_and_ingests_spark_run_through_it(secure: Broker, tmp_path: Path) -> None:
    src, out, dlq = secure.topic("src", 3), secure.topic("out", 3), secure.topic("dlq", 1)
    echo_log = tmp_path / "echo.log"
    echo = secure.start_echo(
        echo_log, ECHO_INPUT_TOPIC=src, ECHO_OUTPUT_TOPIC=out, ECHO_DLQ_TOPIC=dlq, ECHO_GROUP_ID="echo"
    )
    try:
        produce_all(secure, src, [(str(i).encode(), tx(i)) for i in range(200)])
        assert len(consume(secure.kafka, out, 200, timeout_s=60)) == 200
    finally:
        echo.terminate()
        echo.wait(30)

    upsert = UserScramCredentialUpsertion(
        "ingest", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), NASTY.encode()
    )
    admin = make_admin(secure.kafka)  # must outlive its futures
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(30)
    run = IngestRun.fresh(secure, tmp_path)
    produce_all(secure, run.raw, [(str(i).encode(), tx(i)) for i in range(300)] + [(b"x", b"{not json")])
    run.start(KAFKA_SASL_USERNAME="ingest", KAFKA_SASL_PASSWORD=NASTY)
    try:
        clean = {orjson.loads(m.value())["tx_id"] for m in consume(secure.kafka, run.clean, 300, 240)}
        run.wait_lake(300, 1, timeout_s=240)
    finally:
        run.stop()
    assert clean == {str(i) for i in range(300)}, "ingest read and wrote through SASL_SSL"
    assert len(consume(secure.kafka, run.dlq, 1, timeout_s=30)) == 1
    password = secure.env["KAFKA_SASL_PASSWORD"]
    for log in (echo_log, run.log):
        text = log.read_text(errors="replace")
        assert NASTY not in text and password not in text, f"a password in {log.name}"


def test_the_hanging_transactions_tool_runs_through_it(secure: Broker, tmp_path: Path) -> None:
    """`rtloop broker hanging` (Kafka's kafka-transactions) logs in as the services do; a wrong password is
    refused with an error that does not show it."""
    from services.tools.config import ToolSettings
    from services.tools.runtime.hanging import find_hanging
    from tests.kafka_helpers import ROOT

    cluster = secure.kafka.model_copy(update={"bootstrap_servers": secure.kafka.bootstrap})
    s = ToolSettings(cache_dir=tmp_path, jars=ROOT / ".cache" / "rtloop" / "jars", kafka=cluster)
    assert find_hanging(s, [1], older_than_min=0) == []
    wrong = s.model_copy(update={"kafka": cluster.model_copy(update={"sasl_password": SecretStr(NASTY)})})
    with pytest.raises(ConfigError, match="find-hanging failed") as refused:
        find_hanging(wrong, [1])
    assert NASTY not in str(refused.value) and "Authentication failed" in str(refused.value)
