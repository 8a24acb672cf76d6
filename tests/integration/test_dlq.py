"""`rtloop dlq` against the real broker and a real ingest: dead letters counted, one shown, and the ones a
fix makes valid replayed to their source topic, each counted once downstream however often it is run."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from services.common.kafka.envelope import header
from services.common.kafka.scan import scan_topic
from tests.factories import declare
from tests.ingest_helpers import IngestRun, delta_table
from tests.kafka_helpers import ROOT, Broker, consume

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _rtloop(broker: Broker, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "services.tools.cli", "dlq", *args],
        cwd=ROOT,
        env=broker.process_env(COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_fixed_dead_letters_replayed_are_counted_once_downstream(broker: Broker, tmp_path: Path) -> None:
    run = IngestRun.fresh(broker, tmp_path)
    now = datetime.now(UTC) - timedelta(minutes=1)
    producer = Producer(broker.kafka.librdkafka())
    for i in range(30):  # every third one is over the bound this deployment starts with
        tx = {
            "tx_id": f"d{i}",
            "event_time": (now + timedelta(seconds=i)).isoformat(),
            "customer_id": f"c{i % 4}",
            "terminal_id": f"t{i % 5}",
            "amount": 500.0 if i % 3 == 0 else 20.0,
        }
        producer.produce(run.raw, orjson.dumps(tx), f"c{i % 4}".encode(), headers=[("trace", b"t%d" % i)])
    for bad in (b"{not json", b'{"tx_id": "x"'):
        producer.produce(run.raw, bad, b"junk")
    assert producer.flush(30) == 0

    def dead() -> list[Any]:
        return list(scan_topic(broker.kafka, run.dlq, idle_timeout_s=2))

    def clean() -> list[Any]:
        return list(scan_topic(broker.kafka, run.clean, idle_timeout_s=2))

    def amounts_below(bound: float) -> str:  # fraud's declaration with another amount bound
        return declare(tmp_path, lambda doc: doc["event"]["fields"]["amount"].update(below=bound))

    run.start(RTLOOP_USECASE=amounts_below(100))
    try:
        letters = consume(broker.kafka, run.dlq, 12, timeout_s=180)
        assert len(letters) >= 12, "dead letters"
        assert len(consume(broker.kafka, run.clean, 20, timeout_s=60)) >= 20, "clean events"
        listed = _rtloop(broker, "list", "--topic", run.dlq)
        assert f"{len(letters)} dead letters, 0 sources replayed" in listed
        rows = {tuple(line.split("│")[2:5]) for line in listed.splitlines() if "│ ingest" in line}
        assert {(s.strip(), r.strip(), n.strip()) for s, r, n in rows} == {
            ("ingest", "amount_too_large", "10"),
            ("ingest", "malformed_json", "2"),
        }
        large = next(m for m in letters if header(m.headers(), "rtloop.error.reason") == b"amount_too_large")
        shown = _rtloop(broker, "show", f"{large.partition()}:{large.offset()}", "--topic", run.dlq)
        assert "rtloop.source.topic" in shown and run.raw in shown and '"amount": 500.0' in shown
        time.sleep(12)  # a real-time checkpoint (10 s here): the restart resumes after these records
        run.stop()

        run.start(RTLOOP_USECASE=amounts_below(1000))  # the fix
        first = _rtloop(broker, "replay", "--reason", "amount_too_large", "--topic", run.dlq)
        assert f"sent 10 to {run.raw}; 0 already replayed before" in first
        again = _rtloop(broker, "replay", "--reason", "amount_too_large", "--topic", run.dlq)
        assert "sent nothing; 10 already replayed before" in again

        assert len(consume(broker.kafka, run.clean, 30, timeout_s=180)) >= 30, "clean events"
        run.wait_lake(30, 12)
        time.sleep(5)  # a second copy would come within this
        ids = [orjson.loads(m.value())["tx_id"] for m in clean()]
        assert set(ids) == {f"d{i}" for i in range(30)}, "every transaction on the clean topic"
        replayed = [m for m in clean() if header(m.headers(), "rtloop.replayed.from")]
        again_ids = [orjson.loads(m.value())["tx_id"] for m in replayed]
        assert sorted(again_ids) == sorted(f"d{i}" for i in range(0, 30, 3)), "each replayed one once"
        assert all(header(m.headers(), "trace") for m in replayed), "with its own headers"
        table = delta_table(run.lake / "transactions")
        assert table is not None and sorted(table.column("tx_id").to_pylist()) == sorted(set(ids))
        assert len(dead()) == len(letters), "the replayed events passed the fixed rules"
        assert "10 sources replayed" in _rtloop(broker, "list", "--topic", run.dlq)
    finally:
        run.stop()
