"""Ingest settings: which queries a process runs, the task slots that asks for, and the de-duplication
window against the raw topic's retention."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from services.common.config import KafkaSettings
from services.ingest.adapters.spark import kafka_options, resolve_master
from services.ingest.config import IngestSettings
from services.ingest.transforms import window_against_retention
from services.tools.config import ToolSettings
from services.tools.deploy.topics import load_topics


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("clean,lake", {"clean", "lake"}),
        ("lake", {"lake"}),
        ("clean", {"clean"}),
        ("lake,clean", {"clean", "lake"}),
        ("", {"clean", "lake"}),  # empty counts as unset: the default, both
    ],
)
def test_queries_name_what_the_process_runs(
    value: str, names: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INGEST_QUERIES", value)
    assert IngestSettings().query_names == names


@pytest.mark.parametrize("value", [",", "clean,lake,clean", "lakes", "clean;lake"])
def test_an_unknown_query_list_is_refused_naming_the_setting(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INGEST_QUERIES", value)
    with pytest.raises(ValidationError, match="queries"):
        IngestSettings()


@pytest.mark.parametrize(
    ("queries", "mode", "master"),
    [
        ("clean,lake", "realtime", "local[8]"),
        ("clean", "realtime", "local[8]"),
        ("lake", "realtime", "local[*]"),
        ("clean,lake", "microbatch", "local[*]"),
    ],
)
def test_only_a_real_time_clean_path_widens_local_star(
    queries: str, mode: str, master: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real-time mode holds a task slot per raw partition; a lake-only process needs none of them."""
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    settings = IngestSettings(queries=queries, clean_mode=mode)
    assert resolve_master(settings.spark_master, 6, settings.realtime_clean) == master


@pytest.mark.parametrize(
    ("window", "retention_ms", "kept"),
    [
        ("7 days", 604_800_000, None),  # the defaults: the window covers the topic
        ("8 days", 604_800_000, None),
        ("1 days", 0, None),  # nothing kept: nothing to re-send
        ("2 days", 604_800_000, "7 days"),
        ("604799 seconds", 604_800_000, "7 days"),
        ("1 weeks", 604_800_000, None),
        ("1 days", 129_600_000, "1.5 days"),
        ("52 weeks", -1, "forever"),  # a topic kept forever: no window covers it
    ],
)
def test_the_dedup_window_is_checked_against_the_raw_topics_retention(
    window: str, retention_ms: int, kept: str | None
) -> None:
    warning = window_against_retention(window, "transactions.raw", retention_ms)
    if kept is None:
        assert warning is None
        return
    assert warning is not None
    assert (
        f"INGEST_DEDUP_WATERMARK ({window}) is shorter than transactions.raw's retention ({kept})" in warning
    )
    assert f"re-sent more than {window} after the first reaches the lake twice" in warning
    assert warning.endswith(
        "raise the window to the retention (state on disk grows with it) or shorten the retention"
    )


def test_the_dedup_window_default_covers_the_declared_raw_retention() -> None:
    raw = next(t for t in load_topics(ToolSettings().topics_file) if t.name == "transactions.raw")
    assert (
        window_against_retention(IngestSettings().dedup_watermark, raw.name, int(raw.config["retention.ms"]))
        is None
    )


def test_spark_gets_the_password_escaped_and_the_client_certificate_as_one_pem_keystore(
    tmp_path: Path,
) -> None:
    key, cert = tmp_path / "client.key", tmp_path / "client.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n")
    cert.write_text("-----BEGIN CERTIFICATE-----\nCERT\n-----END CERTIFICATE-----\n")
    kafka = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="ingest",
        sasl_password=SecretStr('p"a\\ss word'),
        ssl_ca_location=tmp_path / "ca.pem",
        ssl_certificate_location=cert,
        ssl_key_location=key,
    )
    opts = kafka_options(kafka)
    assert opts["kafka.sasl.jaas.config"] == (
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="ingest" '
        'password="p\\"a\\\\ss word";'
    )
    keystore = Path(opts["kafka.ssl.keystore.location"])
    assert opts["kafka.ssl.keystore.type"] == "PEM" and opts["kafka.ssl.truststore.type"] == "PEM"
    assert keystore.read_text() == key.read_text() + cert.read_text(), "the key, then its certificate"
    assert keystore.stat().st_mode & 0o077 == 0, "readable by its owner only"
