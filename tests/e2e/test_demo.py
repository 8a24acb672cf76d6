"""`rtloop demo` end to end (replay → ingest → Delta), against the session's broker."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kafka_helpers import ROOT, Broker

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_accounts_for_every_event(broker: Broker, tmp_path: Path) -> None:
    env = broker.process_env(
        KAFKA_BOOTSTRAP_SERVERS=broker.kafka.bootstrap,
        RTLOOP_LAKE_ROOT=str(tmp_path / "lake"),
        RTLOOP_CACHE_DIR=str(tmp_path / "cache"),
        COLUMNS="120",
    )
    done = subprocess.run(
        [sys.executable, "-m", "services.tools.cli", "demo", "--days", "3", "--corrupt", "0.01"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "nothing lost" in out

    def count(label: str) -> int:
        match = re.search(re.escape(label) + r"\s*│\s*([\d,]+)", out)
        assert match, f"{label!r} missing from the summary:\n{out}"
        return int(match.group(1).replace(",", ""))

    raw, corrupted = count("transactions → transactions.raw"), count("corrupted on purpose")
    assert raw > 20_000 and corrupted > 0
    assert count("rejected → transactions.dlq") >= corrupted
    assert count("clean → transactions.clean") >= raw - corrupted, "at least once: none missing"
    assert count("Delta transactions rows (version)") == raw - corrupted
    assert count("Delta transactions_rejected rows (version)") == corrupted
    assert count("labels → labels") == raw
    featurized = count("featurized → transactions.features")
    assert featurized >= count("clean → transactions.clean")
    rows = re.search(r"Delta customer_features / terminal_features rows\s*│\s*([\d,]+) / ([\d,]+)", out)
    assert rows, out
    assert int(rows.group(1).replace(",", "")) >= raw - corrupted
    assert int(rows.group(2).replace(",", "")) == int(rows.group(1).replace(",", ""))
    assert "features read back from the online store" in out
