"""Session fixtures: one real Kafka broker for every integration and e2e test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.config import KafkaSettings
from services.tools.runtime.broker import free_port
from tests.kafka_helpers import MODEL_KEY, ROOT, Broker, embedded_broker

# The model signing key of the test session: in-process training and every service process it starts
# (they inherit the environment) sign and verify with it.
os.environ.setdefault("MODEL_SIGNING_KEY", MODEL_KEY.decode())

# fixtures that start a real service: a test using one is an integration test
_SERVICES = frozenset({"broker", "redis_url", "cleaned", "history"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Markers say what runs: a test on a real service is `integration`, a test under tests/e2e is `e2e`,
    and a unit test is neither."""
    wrong = []
    for item in items:
        marks = {m.name for m in item.iter_markers()}
        where = Path(item.path).relative_to(ROOT / "tests").parts[0]
        uses = set(getattr(item, "fixturenames", ())) & _SERVICES
        if uses and "integration" not in marks:
            wrong.append(f"{item.nodeid}: uses {sorted(uses)} without the integration marker")
        if (where == "e2e") != ("e2e" in marks):
            wrong.append(f"{item.nodeid}: the e2e marker is for tests/e2e and every test there")
        if (where == "chaos") != ("chaos" in marks):
            wrong.append(f"{item.nodeid}: the chaos marker is for tests/chaos and every test there")
        if where == "unit" and "integration" in marks:
            wrong.append(f"{item.nodeid}: a unit test marked integration belongs in tests/integration")
    if wrong:
        raise pytest.UsageError("markers:\n" + "\n".join(wrong))


def _docker_engine() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """KAFKA_BOOTSTRAP_SERVERS if set; else testcontainers' Kafka where a Docker engine answers;
    else the embedded KRaft broker on free ports in a temporary cache folder (with
    RTLOOP_BROKER_SECURITY=sasl_ssl: TLS, client certificates and SCRAM, for every client of the suite)."""
    configured = KafkaSettings()
    if configured.external:
        yield Broker(configured, {})
        return
    if _docker_engine():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            bootstrap = container.get_bootstrap_server()
            yield Broker(KafkaSettings(bootstrap_servers=bootstrap), {"KAFKA_BOOTSTRAP_SERVERS": bootstrap})
        return
    with embedded_broker(
        tmp_path_factory.mktemp("rtloop-cache"), os.environ.get("RTLOOP_BROKER_SECURITY") or "plaintext"
    ) as embedded:
        yield embedded


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """A folder for child-process logs (printed by tests on failure)."""
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL if set; else a private redis-server (Debian package) on a free port."""
    import os

    from services.common.errors import ConfigError
    from services.tools.runtime.redis_server import start_redis

    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    port = free_port()
    try:
        proc = start_redis(port, tmp_path_factory.mktemp("redis"))
    except ConfigError as exc:
        pytest.fail(f"{exc} (the tests never skip)")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
