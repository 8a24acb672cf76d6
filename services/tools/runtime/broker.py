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

from services.common.errors import RtloopError
from services.common.kafka.clients import wait_reachable
from services.tools.config import ToolSettings

__all__ = ["BrokerError", "BrokerStatus", "EmbeddedBroker", "free_port"]

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
        path = self.home / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.home / "log4j2.properties").write_text(_LOG4J)
        return path

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
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            self.pid_file.unlink(missing_ok=True)
            return None
        except PermissionError:
            pass
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
            wait_reachable(self.s.kafka, timeout_s=self.s.broker_start_timeout_s)
            return self.bootstrap
        for port in (self.port, self.controller_port):
            self._check_port(port)
        self.home.mkdir(parents=True, exist_ok=True)
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
                wait_reachable(self.s.kafka, timeout_s=1.0)
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
            wait_reachable(self.s.kafka, timeout_s=2.0)
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
