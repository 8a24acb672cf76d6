"""The embedded broker: a single-node KRaft Apache Kafka on the local JVM, from the cached jars."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
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
from services.tools.runtime.broker_tls import BrokerTls, create_user
from services.tools.runtime.processes import alive

__all__ = ["BrokerError", "BrokerStatus", "EmbeddedBroker", "client_environment", "free_port"]

_LOG4J = """status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
logger.kafka.name = kafka.server.KafkaRaftServer
logger.kafka.level = INFO
"""


class BrokerError(RtloopError):
    """The embedded broker cannot start or stop; the message says what to do."""


@dataclass(frozen=True)
class BrokerStatus:
    """What `rtloop broker status` reports."""

    running: bool
    pid: int | None
    bootstrap: str
    reachable: bool
    data_dir: Path


class EmbeddedBroker:
    """Format once, start detached, wait until it serves clients; data persists in the cache."""

    def __init__(self, settings: ToolSettings) -> None:
        self.s = settings
        self.port = settings.kafka.embedded_port
        self.controller_port = settings.controller_port or self.port + 1
        self.home = settings.cache_dir / "kafka"
        self.data_dir = self.home / "data"
        self.pid_file = self.home / "broker.pid"
        self.log_file = self.home / "broker.log"
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.secure = settings.broker_security == "sasl_ssl"
        self.internal_port = settings.internal_port or self.port + 2
        self.tls = BrokerTls(self.home / "tls")

    @property
    def client(self) -> KafkaSettings:
        """How a client reaches this broker: the settings' own, or the SASL_SSL user's."""
        return self.tls.client(self.port) if self.secure else self.s.kafka

    def _classpath(self) -> str:
        jars = self.s.jars_dir / "kafka"
        if not any(jars.glob("kafka_2.13-*.jar")):
            raise BrokerError(f"Kafka jars missing in {jars}: run `make jars` first")
        return str(jars / "*")

    def _properties(self) -> Path:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            "message.max.bytes": str(8 * 1024 * 1024),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "6",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
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
        the broker and controller on certificates alone. No secret in the file: the keystore is PEM."""
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

    def _java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        return [
            self.s.java,
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            self._classpath(),
            main,
            *args,
        ]

    def _format(self, props: Path) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        cmd = self._java(
            "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", f"--config={props}"
        )
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BrokerError(f"formatting KRaft storage failed: {done.stderr.strip()[-2000:]}")

    def pid(self) -> int | None:
        """The running broker's pid, or None (a stale pid file is removed)."""
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

    def start(self) -> str:
        """Start (or find running) and return the bootstrap address once clients are served."""
        if self.pid() is not None:
            wait_reachable(self.client, timeout_s=self.s.broker_start_timeout_s)
            return self.bootstrap
        ports = (self.port, self.controller_port, *((self.internal_port,) if self.secure else ()))
        for port in ports:
            self._check_port(port)
        self.home.mkdir(parents=True, exist_ok=True)
        if self.secure:
            self.tls.ensure()
        props = self._properties()
        self._format(props)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                self._java("kafka.Kafka", str(props), heap=self.s.broker_heap),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        self._wait_ready(proc)
        return self.bootstrap

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.s.broker_start_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                tail = self.log_file.read_text(errors="replace")[-3000:]
                raise BrokerError(f"the broker exited with {proc.returncode}; log tail:\n{tail}")
            try:
                if self.secure:  # the user first, through the certificate-only listener
                    wait_reachable(self.tls.client(self.internal_port, sasl=False), timeout_s=1.0)
                    create_user(self.tls, self.internal_port)
                wait_reachable(self.client, timeout_s=1.0)
                return
            except RtloopError:
                time.sleep(0.2)
        self.stop()
        raise BrokerError(
            f"the broker did not serve clients within {self.s.broker_start_timeout_s:.0f}s; "
            f"see {self.log_file}"
        )

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop gracefully (SIGTERM), then forcefully; True if a broker was running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            _reap(pid)
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> BrokerStatus:
        """Running, reachable, where."""
        pid = self.pid()
        try:
            wait_reachable(self.client, timeout_s=2.0)
            reachable = True
        except RtloopError:
            reachable = False
        return BrokerStatus(pid is not None, pid, self.bootstrap, reachable, self.data_dir)


def _reap(pid: int) -> None:
    """Collect the exit status when the broker is our own child (in-process starts, tests)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


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
