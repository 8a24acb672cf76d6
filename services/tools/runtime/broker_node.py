"""One node of the embedded KRaft cluster (broker and controller in one JVM): its files, ports and process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

from services.common.errors import RtloopError
from services.tools.config import ToolSettings
from services.tools.runtime.broker_tls import BrokerTls
from services.tools.runtime.processes import alive, wait_gone

__all__ = ["PORT_STEP", "BrokerError", "BrokerNode"]

PORT_STEP = 3  # node k listens on the first node's ports + 3 (k - 1): client, controller, inter-broker

_LOG4J = """status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
logger.kafka.name = kafka.server.KafkaRaftServer
logger.kafka.level = INFO
# the transaction coordinator's markers (a skipped partition leaves a transaction hanging: see hanging.py)
logger.txn.name = kafka.coordinator.transaction
logger.txn.level = INFO
"""


class BrokerError(RtloopError):
    """The embedded broker cannot start or stop; the message says what to do."""


class BrokerNode:
    """Node `node` of `nodes`: formatted once with the cluster's id, started detached, stopped by pid."""

    def __init__(self, settings: ToolSettings, node: int, tls: BrokerTls) -> None:
        self.s = settings
        self.node, self.nodes = node, settings.broker_nodes
        base = settings.kafka.embedded_port
        shift = PORT_STEP * (node - 1)
        self.port = base + shift
        self.controller_port = (settings.controller_port or base + 1) + shift
        self.internal_port = (settings.internal_port or base + 2) + shift
        first = settings.cache_dir / "kafka"
        self.home = first if node == 1 else first / f"node-{node}"
        self.data_dir = self.home / "data"
        self.pid_file = self.home / "broker.pid"
        self.log_file = self.home / "broker.log"
        self.secure = settings.broker_security == "sasl_ssl"
        self.tls = tls

    def voters(self) -> str:
        """`controller.quorum.voters`: every node is a controller."""
        first = self.controller_port - PORT_STEP * (self.node - 1)
        return ",".join(f"{k}@127.0.0.1:{first + PORT_STEP * (k - 1)}" for k in range(1, self.nodes + 1))

    def _properties(self) -> Path:
        rf, isr = (3, 2) if self.nodes >= 3 else (self.nodes, 1)
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node),
            "controller.quorum.voters": self.voters(),
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "default.replication.factor": str(rf),
            "min.insync.replicas": str(isr),
            "auto.create.topics.enable": "false",
            "message.max.bytes": str(8 * 1024 * 1024),
            "offsets.topic.replication.factor": str(rf),
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": str(rf),
            "transaction.state.log.min.isr": str(isr),
            "transaction.state.log.num.partitions": "6",
            "share.coordinator.state.topic.replication.factor": str(rf),
            "share.coordinator.state.topic.min.isr": str(isr),
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "4",
        }
        if self.secure:
            props |= self._secure_properties()
        path = self.home / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.home / "log4j2.properties").write_text(_LOG4J)
        return path

    def _secure_properties(self) -> dict[str, str]:
        """Every listener TLS with a client certificate required; clients on SASL_SSL with SCRAM-SHA-512,
        the brokers and controllers on certificates alone. No secret in the file: the keystore is PEM."""
        sasl, internal, controller = self.port, self.internal_port, self.controller_port
        return {
            "listeners": f"SASL_SSL://127.0.0.1:{sasl},BROKER://127.0.0.1:{internal},"
            f"CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"SASL_SSL://127.0.0.1:{sasl},BROKER://127.0.0.1:{internal}",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,BROKER:SSL,CONTROLLER:SSL",
            "inter.broker.listener.name": "BROKER",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "ssl.client.auth": "required",
            "listener.name.sasl_ssl.ssl.client.auth": "required",  # the broker-wide one covers SSL only
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.tls.broker_keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.tls.ca),
        }

    def java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        """The command line of a Kafka tool or the broker itself, on the cached jars."""
        jars = self.s.jars_dir / "kafka"
        if not any(jars.glob("kafka_2.13-*.jar")):
            raise BrokerError(f"Kafka jars missing in {jars}: run `make jars` first")
        return [
            self.s.java,
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            str(jars / "*"),
            main,
            *args,
        ]

    def _format(self, props: Path, cluster_id: str) -> None:
        marker = self.home / "nodes"  # how many nodes the data was formatted for (absent: one)
        if (self.data_dir / "meta.properties").exists():
            formatted = int(marker.read_text()) if marker.exists() else 1
            if formatted != self.nodes:
                raise BrokerError(
                    f"the broker data in {self.data_dir} belongs to a {formatted}-node cluster, not "
                    f"RTLOOP_BROKER_NODES={self.nodes}: set it back, or use another RTLOOP_CACHE_DIR"
                )
            return
        cmd = self.java(
            "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", f"--config={props}"
        )
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BrokerError(f"formatting KRaft storage failed: {done.stderr.strip()[-2000:]}")
        marker.write_text(str(self.nodes))

    def pid(self) -> int | None:
        """The running node's pid, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not alive(pid):  # gone, or a killed broker nobody reaped
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def _check_port(self, port: int) -> None:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                raise BrokerError(
                    f"port {port} on 127.0.0.1 is taken by another program: stop it or set "
                    "RTLOOP_BROKER_PORT (and RTLOOP_CONTROLLER_PORT) to free ports"
                ) from None

    def launch(self, cluster_id: str) -> subprocess.Popen[bytes] | None:
        """Start the node's JVM unless it runs already (None then); ready is the caller's wait."""
        if self.pid() is not None:
            return None
        for port in (self.port, self.controller_port, *((self.internal_port,) if self.secure else ())):
            self._check_port(port)
        self.home.mkdir(parents=True, exist_ok=True)
        props = self._properties()
        self._format(props, cluster_id)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                self.java("kafka.Kafka", str(props), heap=self.s.broker_heap),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        return proc

    def exited(self, proc: subprocess.Popen[bytes] | None) -> None:
        """Raise with the log's tail when the process this node launched has exited."""
        if proc is not None and proc.poll() is not None:
            self.pid_file.unlink(missing_ok=True)
            tail = self.log_file.read_text(errors="replace")[-3000:]
            raise BrokerError(f"broker node {self.node} exited with {proc.returncode}; log tail:\n{tail}")

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop gracefully (SIGTERM), then forcefully; True if the node was running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        if not wait_gone(pid, timeout_s):
            os.kill(pid, signal.SIGKILL)
            wait_gone(pid, 10.0)
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> int:
        """SIGKILL the node (the fault tests' crash); its pid."""
        pid = self.pid()
        if pid is None:
            raise BrokerError(f"broker node {self.node} is not running")
        os.kill(pid, signal.SIGKILL)
        wait_gone(pid)
        self.pid_file.unlink(missing_ok=True)
        return pid
