"""Run the ingest service as a real process against the test broker, and read what it produced."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from tests.kafka_helpers import ROOT, Broker, ServiceProcess, consume

__all__ = ["IngestRun", "corrupted_coordinates", "delta_table", "log_retention"]


def delta_table(path: Path) -> pa.Table | None:
    """The Delta table at `path`, or None before its first commit."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(str(path)).to_pyarrow_table()
    except TableNotFoundError:
        return None


def log_retention(path: Path) -> set[str | None]:
    """The table's log and deleted-file retention properties (one value when they agree)."""
    from deltalake import DeltaTable

    from services.ingest.adapters.delta import RETENTION_PROPERTIES

    config = DeltaTable(str(path)).metadata().configuration
    return {config.get(k) for k in RETENTION_PROPERTIES}


@dataclass
class IngestRun(ServiceProcess):
    """One ingest deployment: its topics, lake and process."""

    broker: Broker
    raw: str
    clean: str
    dlq: str
    lake: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    name = "ingest"

    @classmethod
    def fresh(cls, broker: Broker, folder: Path) -> IngestRun:
        """A deployment on new topics (raw and clean with 6 partitions, a 3-partition DLQ), its lake
        and log under `folder`."""
        return cls(
            broker,
            broker.topic("raw", 6),
            broker.topic("clean", 6),
            broker.topic("dlq", 3),
            folder / "lake",
            folder / "ingest.log",
        )

    def start(self, **extra: str) -> None:
        """Start it on this deployment's topics and lake, with a 1 s lake trigger and a 10 s checkpoint
        (the defaults are 10 s and 5 min: `extra` set to "" leaves a setting at its default)."""
        fast = {"INGEST_LAKE_TRIGGER": "1 second", "INGEST_REALTIME_CHECKPOINT_INTERVAL": "10 seconds"}
        env = self.broker.process_env(
            INGEST_RAW_TOPIC=self.raw,
            INGEST_CLEAN_TOPIC=self.clean,
            INGEST_DLQ_TOPIC=self.dlq,
            INGEST_LAKE_ROOT=str(self.lake),
            INGEST_HEALTH_PORT="0",
            **(fast | extra),
        )
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.ingest"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_lake(self, valid: int, rejected: int, timeout_s: float = 420) -> tuple[pa.Table, pa.Table]:
        """Until both Delta tables hold the expected numbers of rows (or fail after the timeout)."""
        deadline = time.monotonic() + timeout_s
        tx = bad = None
        while time.monotonic() < deadline:
            self.alive()
            tx, bad = (
                delta_table(self.lake / "transactions"),
                delta_table(self.lake / "transactions_rejected"),
            )
            if tx is not None and bad is not None and tx.num_rows >= valid and bad.num_rows >= rejected:
                return tx, bad
            time.sleep(2)
        raise AssertionError(
            f"lake incomplete after {timeout_s}s: transactions "
            f"{None if tx is None else tx.num_rows}/{valid}, rejected "
            f"{None if bad is None else bad.num_rows}/{rejected}"
        )


def corrupted_coordinates(broker: Broker, raw: str, total: int) -> dict[tuple[int, int], str]:
    """(partition, offset) → corruption kind of every corrupted message in `raw`."""
    from services.common.kafka.envelope import header
    from usecases.fraud.replay.producer import CORRUPTION_HEADER

    out = {}
    for m in consume(broker.kafka, raw, total, timeout_s=120):
        kind = header(m.headers(), CORRUPTION_HEADER)
        if kind is not None:
            out[(m.partition(), m.offset())] = kind.decode()
    return out
