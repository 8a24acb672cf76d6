"""Chaos, storage: the lake on a small filesystem of its own, filled to the last byte 5 times for 20 s
under a steady replay. Delta appends (ingest's Spark, features' lake writer) and Spark's checkpoints
fail with ENOSPC meanwhile and are retried, never dead-lettered; afterwards every event has exactly one
prediction and ingest's Delta table holds each distinct valid event once."""

from __future__ import annotations

import contextlib
import errno
import os
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.chaos.load import ids_of, raw_ids, tally, up_with_model
from tests.e2e.test_up_down import _transactions
from tests.ingest_helpers import delta_table
from tests.kafka_helpers import consume
from tests.supervisor_helpers import Stack
from usecases.fraud.replay import build_stream
from usecases.fraud.replay.producer import ReplayOptions, replay

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.slow]

EVENTS, RATE, FULL, FULL_S = 20_000, 100.0, 5, 20


def test_the_lake_disk_full_5_times_for_20_s(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "lake", "256m") as lake:
        stack = Stack(tmp_path)
        stack.env["RTLOOP_LAKE_ROOT"] = str(lake)
        table = _transactions(EVENTS)
        try:
            kafka = up_with_model(stack, tmp_path / "models")
            stream = build_stream(table).only(labels=False)
            load = threading.Thread(
                target=replay, args=(kafka, stream, ReplayOptions(rate=RATE)), daemon=True
            )
            load.start()
            rng = random.Random(17)
            for _ in range(FULL):
                time.sleep(rng.uniform(5, 15))
                ballast = fill(lake / "ballast")
                time.sleep(FULL_S)
                ballast.unlink()
            load.join(EVENTS / RATE + 300)
            assert not load.is_alive(), "the replay did not finish"
            expected = raw_ids(stack.broker)
            consume(kafka, "predictions", len(expected), 420)
            time.sleep(10)  # anything more would be a duplicate
            preds = [
                orjson.loads(m.value() or b"") for m in consume(kafka, "predictions", 10**9, timeout_s=10)
            ]
            dead = consume(kafka, "transactions.dlq", 10**9, timeout_s=5)
            rows = _lake_ids(lake / "transactions", len(expected))
        finally:
            down = stack.rtloop("down", timeout_s=240)
        assert down.returncode == 0, down.stdout + down.stderr
    dead_ids = ids_of(dead)
    scenario = f"lake disk full x{FULL} for {FULL_S} s, {EVENTS} events at {RATE:.0f}/s"
    tally(
        f"{scenario}: predictions", FULL, expected, [p["tx_id"] for p in preds if not p["shadow"]], dead_ids
    )
    tally(f"{scenario}: ingest's Delta rows", FULL, expected, rows, dead_ids)


@contextlib.contextmanager
def small_filesystem(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` at `path` (root only: skipped otherwise)."""
    path.mkdir(parents=True)
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, check=False
    )
    if not mounted or mounted.returncode != 0:
        pytest.skip("a filesystem of its own for the lake needs root (mount -t tmpfs)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> Path:
    """Write zeros to `path` until the filesystem has no byte left (unbuffered: nothing left to flush)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, bytes(size))
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    return path


def _lake_ids(path: Path, expected: int, timeout_s: float = 300) -> list[str]:
    """The tx_ids of ingest's Delta table, once it holds at least `expected` rows (or the timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        table = delta_table(path)
        ids = [] if table is None else [str(x) for x in table.column("tx_id").to_pylist()]
        if len(ids) >= expected or time.monotonic() > deadline:
            return ids
        time.sleep(5)
