"""What `rtloop up` does before the services: Kafka, a local Redis, topics, the Feast repository, and each
service's environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from services.common.errors import ConfigError
from services.tools.config import PROJECT_ROOT, ToolSettings, service_environment
from services.tools.runtime.broker import EmbeddedBroker, free_port
from services.tools.runtime.supervisor.children import ChildSpec
from services.tools.runtime.supervisor.keda import ScalingPolicy

__all__ = [
    "SERVICES",
    "apply_feast",
    "apply_topics_and_wait",
    "child_spec",
    "local_redis_port",
    "make_signing_key",
    "start_kafka",
]

SERVICES = ("ingest", "features", "scorer", "monitor")
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def start_kafka(s: ToolSettings) -> tuple[str, EmbeddedBroker | None]:
    """The bootstrap address, and the embedded broker when this call started it (then `down` stops it)."""
    from services.common.kafka.clients import wait_reachable

    if s.kafka.external:
        wait_reachable(s.kafka, timeout_s=30)
        return s.kafka.bootstrap, None
    broker = EmbeddedBroker(s)
    owned = broker.pid() is None
    return broker.start(), broker if owned else None


def local_redis_port(s: ToolSettings) -> int | None:
    """The port of REDIS_URL when it names this machine and nothing answers there (then we start it)."""
    if not s.redis_url:
        return None
    url = urlparse(s.redis_url.get_secret_value())
    if url.hostname not in LOCAL_HOSTS:
        return None
    import redis

    port = url.port or 6379
    try:
        redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1).ping()
        return None  # somebody runs it already
    except redis.ConnectionError:
        return port
    except redis.RedisError:
        return None  # it answers (with an auth error, say): it is there


def apply_topics_and_wait(s: ToolSettings) -> int:
    """Create or update the declared topics and wait until every partition has a leader; their count."""
    from services.common.kafka.clients import make_admin
    from services.tools.deploy.topics import apply_topics, load_topics, wait_visible

    replicas = min(3, s.broker_nodes) if s.broker_nodes > 1 and not s.kafka.external else None
    specs = load_topics(s.topics_file, replicas)
    apply_topics(make_admin(s.kafka), specs)
    wait_visible(s)
    return len(specs)


def apply_feast(env: dict[str, str], log: Path) -> None:
    """`rtloop features apply` with the services' environment (the same online store and data folder)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        done = subprocess.run(
            [sys.executable, "-m", "services.tools.cli", "features", "apply"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=300,
        )
    if done.returncode != 0:
        raise ConfigError(f"feast apply failed (exit {done.returncode}): see {log}")


def make_signing_key() -> None:
    """The model signing key file training and the scorers share (MODEL_SIGNING_KEY_FILE, by default
    data/secrets/model-signing.key), made once unless MODEL_SIGNING_KEY is set."""
    from services.common.config import load_settings
    from services.common.signing import signing_key
    from services.training.config import TrainSettings

    train = load_settings(TrainSettings)
    if train.model_signing_key is None:
        signing_key(None, train.model_signing_key_file, create=True)


def _defaults(s: ToolSettings) -> dict[str, str]:
    """Where the services keep their data: all under the lake's parent folder, unless set already."""
    data, lake = s.data_root, s.lake_root
    return {
        "INGEST_LAKE_ROOT": str(lake),
        "INGEST_JARS_DIR": str(s.jars_dir / "spark"),
        "FEATURES_LAKE_ROOT": str(lake),
        "FEATURES_FEAST_DATA": str(data / "feast"),
        "SCORER_FEAST_DATA": str(data / "feast"),
        "MONITOR_REGISTRY_ROOT": str(data / "models"),
        "MONITOR_REPORTS_DIR": str(lake / "reports"),
        "TRAIN_REGISTRY_ROOT": str(data / "models"),
    }


def base_environment(s: ToolSettings) -> dict[str, str]:
    """The environment every supervised process shares."""
    forced = {"RTLOOP_BROKER_PORT": str(s.kafka.embedded_port), "PYTHONUNBUFFERED": "1"}
    if s.broker_nodes > 1 and not s.kafka.external:  # every node, so a client starts while one is down
        forced["KAFKA_BOOTSTRAP_SERVERS"] = EmbeddedBroker(s).bootstrap
    if s.redis_url:
        forced["REDIS_URL"] = s.redis_url.get_secret_value()
    return service_environment(_defaults(s), forced)


def child_spec(
    s: ToolSettings, service: str, policy: ScalingPolicy, instance: int = 0, port: int | None = None
) -> ChildSpec:
    """The process of `service` (scorer: instance number `instance`), on a free health port."""
    if service not in SERVICES:
        raise ConfigError(f"unknown service {service!r}: choose from {', '.join(SERVICES)}")
    prefix = service.upper()
    port = port or free_port()
    forced = {f"{prefix}_HEALTH_PORT": str(port), f"{prefix}_HEALTH_HOST": "127.0.0.1"}
    name = service
    if service == "scorer":  # the ScaledObject's group and topic: the lag measured is the lag scaled on
        forced |= {
            "SCORER_GROUP_ID": policy.group,
            "SCORER_FEATURES_TOPIC": policy.topic,
            "SCORER_INSTANCE": str(instance),
        }
        name = f"scorer-{instance}"
    env = base_environment(s) | forced
    return ChildSpec(name, f"services.{service}", env, port, s.logs_dir / f"{name}.log")
