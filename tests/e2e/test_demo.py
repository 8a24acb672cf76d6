"""`rtloop demo` end to end (replay → ingest → features → training → scorer → monitor), against the
session's broker, with an amount drift injected into the simulation from the live week's fourth day."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson
import pandas as pd
import pytest

from services.common.kafka.scan import scan_topic
from tests.kafka_helpers import ROOT, Broker

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

# a small population over the book's weeks: the whole loop in a few minutes; 37 days of history fill
# every window before the training week, so the monitor's reference is the live week's distribution
DRIFT_DAY = "2018-08-18"
DEMO_ARGS = [
    *("--customers", "300", "--terminals", "600", "--history-days", "37", "--corrupt", "0.01"),
    *("--drift", f"amount:{DRIFT_DAY}:0.5:3", "--live-rate", "100"),
]


def test_demo_accounts_for_every_event(broker: Broker, tmp_path: Path) -> None:
    env = broker.process_env(
        KAFKA_BOOTSTRAP_SERVERS=broker.kafka.bootstrap,
        RTLOOP_LAKE_ROOT=str(tmp_path / "lake"),
        RTLOOP_CACHE_DIR=str(tmp_path / "cache"),
        COLUMNS="120",
        # ~570 predictions a day: a stationary day's inputs score up to ~0.17 by chance here (0.1 is
        # Evidently's default for large windows); the tripled amounts score above 0.5
        MONITOR_DRIFT_THRESHOLD="0.25",
    )
    done = subprocess.run(
        [sys.executable, "-m", "services.tools.cli", "demo", *DEMO_ARGS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "nothing lost" in out
    noise = [line for line in out.splitlines() if re.search(r"\w+Warning:|^%\d\|", line)]
    assert noise == [], "no library warnings (Python's or librdkafka's) in the demo's output"

    def count(label: str) -> int:
        match = re.search(re.escape(label) + r"\s*│\s*([\d,]+)", out)
        assert match, f"{label!r} missing from the summary:\n{out}"
        return int(match.group(1).replace(",", ""))

    raw, corrupted = count("transactions → transactions.raw"), count("corrupted on purpose")
    assert raw > 15_000 and corrupted > 0
    assert count("rejected → transactions.dlq") >= corrupted
    assert count("clean → transactions.clean") >= raw - corrupted, "at least once: none missing"
    assert count("Delta transactions rows (version)") == raw - corrupted
    assert count("Delta transactions_rejected rows (version)") == corrupted
    assert count("labels → labels") == raw
    featurized = count("featurized → transactions.features (offsets)")  # transaction markers included
    assert featurized >= count("clean → transactions.clean")
    rows = re.search(r"Delta customer_features / terminal_features rows\s*│\s*([\d,]+) / ([\d,]+)", out)
    assert rows, out
    assert int(rows.group(1).replace(",", "")) >= raw - corrupted
    assert int(rows.group(2).replace(",", "")) == int(rows.group(1).replace(",", ""))
    assert "features read back from the online store" in out
    assert re.search(r"promoted.*published on 'models'", out), out
    quality = re.search(r"stream, the week after[^│]*│\s*([\d,]+)\s*│\s*([\d,]+)\s*│\s*([\d.]+)", out)
    assert quality, out
    assert int(quality.group(1).replace(",", "")) > 1000 and float(quality.group(3)) > 0.6, (
        "scored, better than chance"
    )
    assert "had no prediction" not in out
    assert "used another transaction's customer inputs" not in out, "each prediction used its own row"
    e2e = re.search(r"end to end\s*│\s*([\d,]+)\s*│\s*([\d,]+)\s*│\s*([\d,]+)", out)
    assert e2e, "the latency table has the end-to-end row"
    assert int(e2e.group(1).replace(",", "")) > 1000, "latency measured over the live week's predictions"
    assert int(e2e.group(2).replace(",", "")) <= int(e2e.group(3).replace(",", "")), "p50 <= p99"
    assert re.search(r"scorer replicas over time \(\d+ polls", out), "replicas over time"

    _every_event_once_on_the_topics(broker)
    _drift_was_alerted_once_when_it_began(broker, out)


def _every_event_once_on_the_topics(broker: Broker) -> None:
    """From the topics, not the demo's counts: every valid transaction on transactions.clean, every
    corrupted one dead-lettered, and one prediction for each valid transaction of the live week."""
    from services.common.kafka.envelope import header
    from usecases.fraud.demo.loop import TEST_END
    from usecases.fraud.replay.producer import CORRUPTION_HEADER

    live_from = pd.Timestamp(TEST_END, tz="UTC")  # the live week: the 7 days from the test week's end
    valid, live, corrupted = set(), set(), set()
    for m in scan_topic(broker.kafka, "transactions.raw", idle_timeout_s=2):
        if header(m.headers(), CORRUPTION_HEADER) is not None:
            corrupted.add((m.partition(), m.offset()))
            continue
        doc = orjson.loads(m.value() or b"{}")
        valid.add(doc["tx_id"])
        when = doc["event_time"]
        at = pd.Timestamp(when, unit="ms", tz="UTC") if isinstance(when, int) else pd.Timestamp(when)
        if at >= live_from:
            live.add(doc["tx_id"])
    assert valid and live and corrupted
    clean = {
        orjson.loads(m.value() or b"{}")["tx_id"] for m in scan_topic(broker.kafka, "transactions.clean")
    }
    assert clean == valid, f"{len(valid - clean)} valid transactions missing on transactions.clean"
    dead = {
        (
            int(header(m.headers(), "rtloop.source.partition") or b"-1"),
            int(header(m.headers(), "rtloop.source.offset") or b"-1"),
        )
        for m in scan_topic(broker.kafka, "transactions.dlq")
        if header(m.headers(), "rtloop.source.topic") == b"transactions.raw"
    }
    assert dead == corrupted, "every corrupted transaction dead-lettered, nothing else"
    predicted = [orjson.loads(m.value() or b"{}")["tx_id"] for m in scan_topic(broker.kafka, "predictions")]
    assert len(predicted) == len(set(predicted)), "one prediction per transaction"
    assert set(predicted) == live, f"{len(live - set(predicted))} live transactions without a prediction"


def _drift_was_alerted_once_when_it_began(broker: Broker, out: str) -> None:
    """Day windows: the three stationary days raise nothing, the shifted amounts are named by a
    data_drift alert raised within 2 windows of the change, with its Evidently report."""
    alerts = [orjson.loads(m.value() or b"{}") for m in scan_topic(broker.kafka, "alerts", idle_timeout_s=2)]
    drift = [a for a in alerts if a["kind"] == "data_drift" and a["state"] == "raised"]
    assert len(drift) == 1, f"one data_drift alert: {alerts}"
    (alert,) = drift
    day = alert["window"]["start"][:10]
    assert DRIFT_DAY <= day <= "2018-08-19", f"raised for the window of {day}"
    assert "TX_AMOUNT" in {f["name"] for f in alert["drifted_features"]}
    assert alert["report_uri"] and Path(alert["report_uri"]).is_file()
    assert "data_drift" in out and "alerts published during the live week" in out
    page = re.search(r"monitor page \(a copy\): (\S+)", out)
    assert page and Path(page.group(1)).is_file(), out[-2000:]
