"""`rtloop demo` end to end (replay → ingest → features → training → scorer), against the session's broker."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kafka_helpers import ROOT, Broker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# a small population over the book's weeks: the whole loop in a few minutes
DEMO_ARGS = ["--customers", "300", "--terminals", "600", "--history-days", "7", "--corrupt", "0.01"]


def test_demo_accounts_for_every_event(broker: Broker, tmp_path: Path) -> None:
    env = broker.process_env(
        KAFKA_BOOTSTRAP_SERVERS=broker.kafka.bootstrap,
        RTLOOP_LAKE_ROOT=str(tmp_path / "lake"),
        RTLOOP_CACHE_DIR=str(tmp_path / "cache"),
        COLUMNS="120",
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
    featurized = count("featurized → transactions.features")
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
