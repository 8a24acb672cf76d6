"""`rtloop up` → replay 20k transactions → a prediction for every valid one → `rtloop down` leaves no
process and no open port. Its own embedded broker and Redis (with a password), started and stopped by the
supervisor; no secret of the run is in any of its outputs, files or command lines."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from services.training.adapters.kafka_io import publish_version
from tests.kafka_helpers import ROOT, consume
from tests.scorer_helpers import register_model
from tests.supervisor_helpers import Stack
from usecases.fraud.replay import build_stream
from usecases.fraud.replay.producer import ReplayOptions, replay
from usecases.fraud.simulator import SimulationConfig, simulate

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

EVENTS = 20_000


def _transactions(n: int) -> pa.Table:
    table = simulate(SimulationConfig(n_customers=400, n_terminals=800, n_days=40, seed=7))
    assert table.num_rows >= n, table.num_rows
    return table.sort_by("tx_datetime").slice(0, n)


def _secrets_shown(secrets: dict[str, str], outputs: list[str], root: Path) -> list[str]:
    """Where a secret shows: the commands' outputs, the processes' command lines, and every file the
    run wrote (logs, the supervisor's state, Feast's files and the feature_store.yaml rendered in the
    repository, the lake, the broker's log segments)."""
    found = [f"{name} in output {i}" for name, v in secrets.items() for i, o in enumerate(outputs) if v in o]
    files = [p for p in root.rglob("*") if p.is_file()] + [ROOT / "infra" / "feast" / "feature_store.yaml"]
    assert len(files) > 100, "the run's files are there to be read"
    for path in files:
        data = path.read_bytes()
        found += [f"{name} in {path}" for name, v in secrets.items() if v.encode() in data]
    return found


def test_up_replay_down_scores_every_valid_event_and_leaves_nothing(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    secrets = {"redis": f"redis-{uuid.uuid4().hex}", "signing": f"signing-{uuid.uuid4().hex}"}
    stack.env["REDIS_URL"] = f"redis://:{secrets['redis']}@127.0.0.1:{stack.redis}/0"
    stack.env["MODEL_SIGNING_KEY"] = secrets["signing"]
    table = _transactions(EVENTS)
    up = stack.rtloop("up")
    outputs = [up.stdout + up.stderr]
    try:
        assert up.returncode == 0, up.stdout + up.stderr + stack.logs()
        assert "up" in up.stdout
        state = stack.state()
        names = sorted(c["name"] for c in state["children"])
        assert names == ["features", "ingest", "monitor", "scorer-0"], names
        assert all(c["healthy"] for c in state["children"])
        assert state["redis"]["port"] == stack.redis, "REDIS_URL is local and was down: started"
        status = stack.rtloop("status")
        outputs.append(status.stdout + status.stderr)
        assert status.returncode == 0 and "scorer-0" in status.stdout, status.stdout

        card = register_model(tmp_path / "models", "fraud", "v1")
        publish_version(stack.broker.kafka, "models", card, secrets["signing"].encode())
        result = replay(
            stack.broker.kafka, build_stream(table).only(labels=False), ReplayOptions(corrupt_share=0.01)
        )
        corrupted = sum(result.corrupted.values())
        assert result.transactions == EVENTS and result.failed == 0 and corrupted > 0
        valid = EVENTS - corrupted

        clean = {
            orjson.loads(m.value())["tx_id"]
            for m in consume(stack.broker.kafka, "transactions.clean", valid, 420)
        }
        assert len(clean) == valid, f"ingest accepted {len(clean)} of {valid} valid\n{stack.logs()}"
        preds = consume(stack.broker.kafka, "predictions", valid, 420)
        scored = {orjson.loads(m.value())["tx_id"] for m in preds}
        assert clean <= scored, (
            f"{len(clean - scored)} valid transactions without a prediction\n{stack.logs()}"
        )
        assert len(scored) == valid
        outputs += stack.processes(width=100_000)
    finally:
        down = stack.rtloop("down", timeout_s=240)
    outputs.append(down.stdout + down.stderr)
    assert down.returncode == 0, down.stdout + down.stderr
    assert _secrets_shown(secrets, outputs, tmp_path) == [], "a secret in an output, a command line or a file"
    assert "down:" in down.stdout
    ports = [c["port"] for c in state["children"]] + state["broker"]["ports"] + [stack.redis]
    assert stack.processes() == [], "no process of this stack is left"
    assert stack.listening(ports) == [], "no port of this stack is open"
    after = stack.rtloop("status")
    assert after.returncode == 1 and "not running" in after.stdout
