"""The monitor as a process against the test broker, and the alerts it published."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from services.common.kafka.scan import scan_topic
from tests.kafka_helpers import ROOT, Broker, ServiceProcess

__all__ = ["MonitorRun", "alerts_on"]


class MonitorRun(ServiceProcess):
    """`python -m services.monitor` with MONITOR_* settings from `env`."""

    name = "monitor"

    def __init__(self, broker: Broker, env: dict[str, str], log: Path) -> None:
        self.broker, self.env, self.log, self.proc = broker, env, log, None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.monitor"],
            cwd=ROOT,
            env=self.broker.process_env(**self.env),
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def alerts_on(broker: Broker, topic: str) -> list[dict[str, Any]]:
    """Every alert on `topic` so far."""
    return [orjson.loads(m.value() or b"{}") for m in scan_topic(broker.kafka, topic, idle_timeout_s=2)]
