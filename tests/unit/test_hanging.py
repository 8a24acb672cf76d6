"""Hanging transactions: find-hanging's table read, and the order they are aborted in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from services.common.config import KafkaSettings
from services.common.errors import ConfigError
from services.tools.config import ToolSettings
from services.tools.runtime import hanging
from services.tools.runtime.hanging import Hanging, abort_hanging, client_properties, parse_hanging

# what Kafka 4.4's find-hanging printed for the broker-restart scenario's stuck run
_HEADER = (
    "Topic\tPartition\tProducerId\tProducerEpoch\tCoordinatorEpoch\tStartOffset\tLastTimestamp\tDuration(min)"
)
TABLE = "\n".join(
    [
        _HEADER,
        "scorer-x.seen\t1        \t3     \t2     \t4    \t518        \t1796424529261\t5   \t",
        "__consumer_offsets\t8   \t3     \t2     \t4    \t2363       \t1796424529288\t5   \t",
        "predictions-7f\t2       \t3     \t2     \t4    \t3833       \t1796424529261\t5   \t",
    ]
)


def test_the_table_of_find_hanging_is_read_row_by_row() -> None:
    assert parse_hanging(TABLE) == [
        Hanging("scorer-x.seen", 1, 3, 2, 518, 5),
        Hanging("__consumer_offsets", 8, 3, 2, 2363, 5),
        Hanging("predictions-7f", 2, 3, 2, 3833, 5),
    ]
    assert parse_hanging(TABLE.splitlines()[0] + "\n") == []


def test_data_partitions_are_aborted_before_the_groups_offsets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the offsets partition hangs the group consumes nothing; aborted last, no new transaction of
    the producer joins (and commits) a hanging one on a data partition before it is aborted."""
    calls: list[tuple[str, ...]] = []

    def run(_s: ToolSettings, *args: str, gone_ok: bool = False) -> str | None:
        calls.append(args)
        return None if args[2] == "predictions-7f" else ""  # that one ended meanwhile

    monkeypatch.setattr(hanging, "_run", run)
    done = abort_hanging(ToolSettings(cache_dir=tmp_path), parse_hanging(TABLE))
    assert [c[2] for c in calls] == ["predictions-7f", "scorer-x.seen", "__consumer_offsets"]
    assert calls[-1] == (
        "abort",
        "--topic",
        "__consumer_offsets",
        "--partition",
        "8",
        "--start-offset",
        "2363",
    )
    assert [h.topic for h in done] == ["scorer-x.seen", "__consumer_offsets"]


def test_a_secured_clusters_client_file_names_no_secret(tmp_path: Path) -> None:
    """kafka-transactions reads its security settings from a properties file: the password, the key and
    the certificates come from its environment through Kafka's EnvVarConfigProvider instead."""
    key, cert, ca = (tmp_path / n for n in ("client.key", "client.pem", "ca.pem"))
    for path, text in ((key, "KEY-PEM"), (cert, "CERT-PEM"), (ca, "CA-PEM")):
        path.write_text(f"-----BEGIN X-----\n{text}\n-----END X-----\n")
    password = 'pa"ss\\word'
    kafka = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="rtloop",
        sasl_password=SecretStr(password),
        ssl_ca_location=ca,
        ssl_certificate_location=cert,
        ssl_key_location=key,
    )
    text, env = client_properties(kafka)
    props = dict(line.split("=", 1) for line in text.splitlines())
    for secret in (password, "KEY-PEM", "CERT-PEM", "CA-PEM"):
        assert secret not in text
    assert props["security.protocol"] == "SASL_SSL" and props["sasl.mechanism"] == "SCRAM-SHA-512"
    assert props["config.providers.env.class"].endswith("EnvVarConfigProvider")
    resolved = {k: re.sub(r"\$\{env:(\w+)\}", lambda m: env[m.group(1)], v) for k, v in props.items()}
    assert resolved["sasl.jaas.config"] == kafka.java_jaas()
    assert '\\"' in resolved["sasl.jaas.config"]  # the quote escaped for Java's tokenizer
    assert (
        resolved["ssl.keystore.key"] == key.read_text()
        and resolved["ssl.truststore.certificates"] == ca.read_text()
    )
    assert client_properties(KafkaSettings()) == ("security.protocol=PLAINTEXT\n", {})


def test_a_tool_that_gets_no_answer_is_a_config_error_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator's loop suppresses ConfigError and tries again later: a broker down mid-call must not
    end it with another exception."""
    import subprocess

    def slow(*_a: object, **_k: object) -> None:
        raise subprocess.TimeoutExpired("java", 120)

    jars = tmp_path / "jars" / "kafka"
    jars.mkdir(parents=True)
    (jars / "kafka-tools-4.4.0.jar").touch()
    monkeypatch.setattr(hanging.subprocess, "run", slow)
    s = ToolSettings(cache_dir=tmp_path, jars=tmp_path / "jars")
    with pytest.raises(ConfigError, match=r"no answer within 120 s.*rtloop broker status"):
        hanging.find_hanging(s, [1])
