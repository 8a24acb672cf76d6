"""The embedded broker: a KRaft Apache Kafka of one node (or a few) on the local JVM, from the cached jars."""

from __future__ import annotations

import base64
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from services.common.config import KafkaSettings
from services.common.errors import RtloopError
from services.common.kafka.clients import wait_reachable
from services.tools.config import ToolSettings
from services.tools.runtime.broker_node import BrokerError, BrokerNode
from services.tools.runtime.broker_tls import BrokerTls, create_user

__all__ = ["BrokerError", "BrokerStatus", "EmbeddedBroker", "client_environment", "free_port"]


@dataclass(frozen=True)
class BrokerStatus:
    """What `rtloop broker status` reports."""

    running: bool
    pid: int | None
    bootstrap: str
    reachable: bool
    data_dir: Path


class EmbeddedBroker:
    """The embedded KRaft cluster: `RTLOOP_BROKER_NODES` nodes (one by default), each a broker and a
    controller; formatted once, started detached, waited for until every node serves clients. Data
    persists in the cache."""

    def __init__(self, settings: ToolSettings) -> None:
        self.s = settings
        self.tls = BrokerTls(settings.cache_dir / "kafka" / "tls")  # one CA and certificate for all nodes
        self.nodes = [BrokerNode(settings, k, self.tls) for k in range(1, settings.broker_nodes + 1)]
        first = self.nodes[0]
        self.port, self.controller_port = first.port, first.controller_port
        self.internal_port = first.internal_port
        self.home, self.data_dir, self.log_file = first.home, first.data_dir, first.log_file
        self.secure = first.secure
        self.bootstrap = ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    @property
    def client(self) -> KafkaSettings:
        """How a client reaches this cluster: the settings' own (every node named when there are
        several), or the SASL_SSL user's."""
        own = self.tls.client(self.port) if self.secure else self.s.kafka
        return own.model_copy(update={"bootstrap_servers": self.bootstrap}) if len(self.nodes) > 1 else own

    def pid(self) -> int | None:
        """The first running node's pid, or None when no node runs."""
        return next((pid for pid in self.pids() if pid is not None), None)

    def pids(self) -> list[int | None]:
        """Each node's pid (None where it does not run)."""
        return [node.pid() for node in self.nodes]

    def ports(self) -> list[int]:
        """Every port the nodes listen on."""
        return [
            p
            for n in self.nodes
            for p in (n.port, n.controller_port, *((n.internal_port,) if n.secure else ()))
        ]

    def start(self) -> str:
        """Start the nodes that do not run (or find them running) and return the bootstrap address once
        every node serves clients."""
        if self.secure:
            self.tls.ensure()
        cluster_id = self._cluster_id()
        launched = [node.launch(cluster_id) for node in self.nodes]
        if not any(launched):
            wait_reachable(self.client, timeout_s=self.s.broker_start_timeout_s)
            return self.bootstrap
        self._wait_ready(launched)
        return self.bootstrap

    def _cluster_id(self) -> str:
        """The id every node is formatted with: made once, kept beside the first node's data."""
        path = self.home / "cluster.id"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            path.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))
        return path.read_text().strip()

    def _wait_ready(self, launched: list[subprocess.Popen[bytes] | None]) -> None:
        deadline = time.monotonic() + self.s.broker_start_timeout_s
        while time.monotonic() < deadline:
            for node, proc in zip(self.nodes, launched, strict=True):
                node.exited(proc)
            try:
                if self.secure:  # the user first, through the certificate-only listener
                    wait_reachable(self.tls.client(self.internal_port, sasl=False), timeout_s=1.0)
                    create_user(self.tls, self.internal_port)
                if wait_reachable(self.client, timeout_s=1.0) >= len(self.nodes):
                    return
            except RtloopError:
                pass
            time.sleep(0.2)
        self.stop()
        raise BrokerError(
            f"the broker did not serve clients within {self.s.broker_start_timeout_s:.0f}s; "
            f"see {self.log_file}"
        )

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop every node gracefully (SIGTERM), then forcefully; True if any was running."""
        return any([node.stop(timeout_s) for node in reversed(self.nodes)])

    def status(self) -> BrokerStatus:
        """Running, reachable, where."""
        pid = self.pid()
        try:
            wait_reachable(self.client, timeout_s=2.0)
            reachable = True
        except RtloopError:
            reachable = False
        return BrokerStatus(pid is not None, pid, self.bootstrap, reachable, self.data_dir)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now (for private brokers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def client_environment(s: ToolSettings) -> dict[str, str]:
    """With RTLOOP_BROKER_SECURITY=sasl_ssl (and no external cluster), the KAFKA_* variables that make a
    process a client of the embedded broker's SASL_SSL listener (the certificates and the user's
    password are made once); else none."""
    if s.broker_security != "sasl_ssl" or s.kafka.external:
        return {}
    return EmbeddedBroker(s).tls.ensure().environment()
