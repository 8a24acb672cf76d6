"""`rtloop demo` end to end, against the session's broker (so it starts none of its own)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.kafka_helpers import ROOT, Broker

pytestmark = pytest.mark.integration


def test_demo_accounts_for_every_event(broker: Broker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bootstrap = broker.kafka.bootstrap
    env = broker.process_env(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
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
        timeout=300,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "nothing lost" in out

    def count(label: str) -> int:
        match = re.search(re.escape(label) + r"\s*│\s*([\d,]+)", out)
        assert match, f"{label!r} missing from the summary:\n{out}"
        return int(match.group(1).replace(",", ""))

    raw, echoed, dead = (
        count("transactions → transactions.raw"),
        count("echoed → transactions.echo"),
        count("dead-lettered → transactions.dlq"),
    )
    assert raw > 20_000
    assert dead == count("corrupted on purpose") > 0
    assert echoed + dead == raw
    assert count("labels → labels") == raw
