"""ingest and the raw topic's retention: records deleted before ingest read them stop it with an error
that says what to do, never silently; INGEST_ALLOW_DATA_LOSS=true then goes on past the gap."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from services.common.kafka.clients import make_admin
from services.tools.ops.offsets import end_offsets
from tests.factories import tx
from tests.ingest_helpers import IngestRun
from tests.kafka_helpers import Broker
from tests.scorer_helpers import produce_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _events(first: int, n: int) -> list[tuple[bytes, bytes]]:
    """n valid events from id `first`, and one that is not JSON (the rejected table gets a row)."""
    return [(str(i).encode(), tx(i)) for i in range(first, first + n)] + [(b"bad", b"{not json")]


def test_records_deleted_before_ingest_read_them_stop_it_until_the_loss_is_allowed(
    broker: Broker, tmp_path: Path
) -> None:
    run = IngestRun.fresh(broker, tmp_path)
    produce_all(broker, run.raw, _events(0, 600))
    run.start(INGEST_QUERIES="lake")
    run.wait_lake(600, 1, timeout_s=300)
    assert run.stop() == 0
    produce_all(broker, run.raw, _events(600, 400))  # never read: retention deletes them
    admin = make_admin(broker.kafka)
    gone = [TopicPartition(run.raw, p, high) for p, high in end_offsets(broker.kafka, run.raw).items()]
    for future in admin.delete_records(gone).values():
        future.result(30)
    produce_all(broker, run.raw, _events(1000, 300))

    run.start(INGEST_QUERIES="lake")
    assert run.proc is not None
    deadline = time.monotonic() + 240
    while run.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(1)
    log = run.log.read_text(errors="replace")
    assert run.proc.poll() not in (None, 0), f"ingest went on past deleted records:\n{log[-3000:]}"
    assert "INGEST_ALLOW_DATA_LOSS=true" in log and "were deleted" in log, log[-3000:]

    run.start(INGEST_QUERIES="lake", INGEST_ALLOW_DATA_LOSS="true")
    events, rejected = run.wait_lake(900, 2, timeout_s=300)
    run.stop()
    ids = sorted(int(i) for i in events.column("tx_id").to_pylist())
    assert ids == [*range(600), *range(1000, 1300)], "the gap is the deleted records, nothing else"
    assert rejected.num_rows == 2
