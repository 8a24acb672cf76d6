"""The embedded cluster's nodes: ports, quorum, replication and the data's node count, without a JVM."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.common.config import KafkaSettings
from services.tools.config import ToolSettings
from services.tools.runtime.broker import EmbeddedBroker
from services.tools.runtime.broker_node import BrokerError


def _settings(tmp_path: Path, nodes: int, **extra: object) -> ToolSettings:
    return ToolSettings(
        cache_dir=tmp_path, broker_nodes=nodes, kafka=KafkaSettings(embedded_port=19092), **extra
    )


def _props(node_home: Path) -> dict[str, str]:
    lines = (node_home / "server.properties").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_one_node_keeps_the_single_broker_layout(tmp_path: Path) -> None:
    broker = EmbeddedBroker(_settings(tmp_path, 1))
    assert broker.bootstrap == "127.0.0.1:19092"
    assert broker.client.bootstrap == "127.0.0.1:19092" and not broker.client.external
    assert broker.data_dir == tmp_path / "kafka" / "data"
    node = broker.nodes[0]
    node.home.mkdir(parents=True)
    props = _props(node._properties().parent)
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["offsets.topic.replication.factor"] == props["default.replication.factor"] == "1"
    assert props["min.insync.replicas"] == props["transaction.state.log.min.isr"] == "1"


def test_three_nodes_each_a_voter_on_its_own_ports_with_rf_3_and_min_insync_2(tmp_path: Path) -> None:
    broker = EmbeddedBroker(_settings(tmp_path, 3, controller_port=20000))
    assert broker.bootstrap == "127.0.0.1:19092,127.0.0.1:19095,127.0.0.1:19098"
    assert broker.client.bootstrap == broker.bootstrap  # a new client starts while any one node is down
    assert broker.ports() == [19092, 20000, 19095, 20003, 19098, 20006]
    homes = {n.home for n in broker.nodes}
    assert len(homes) == 3 and len({n.data_dir for n in broker.nodes}) == 3
    for node in broker.nodes:
        node.home.mkdir(parents=True, exist_ok=True)
        props = _props(node._properties().parent)
        assert props["node.id"] == str(node.node)
        assert props["controller.quorum.voters"] == "1@127.0.0.1:20000,2@127.0.0.1:20003,3@127.0.0.1:20006"
        assert props["listeners"] == (
            f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}"
        )
        for key in ("default.replication.factor", "offsets.topic.replication.factor"):
            assert props[key] == "3", key
        for key in ("min.insync.replicas", "transaction.state.log.min.isr"):
            assert props[key] == "2", key
    assert len({n.tls.folder for n in broker.nodes}) == 1  # one CA and certificate for every node


def test_data_formatted_for_another_node_count_is_refused_with_what_to_do(tmp_path: Path) -> None:
    single = EmbeddedBroker(_settings(tmp_path, 1)).nodes[0]
    single.data_dir.mkdir(parents=True)
    (single.data_dir / "meta.properties").write_text("cluster.id=x\n")  # formatted before nodes existed
    node = EmbeddedBroker(_settings(tmp_path, 3)).nodes[0]
    with pytest.raises(BrokerError, match=r"1-node cluster, not RTLOOP_BROKER_NODES=3.*RTLOOP_CACHE_DIR"):
        node._format(node._properties(), "id")


def test_the_cluster_id_is_made_once_and_shared(tmp_path: Path) -> None:
    first = EmbeddedBroker(_settings(tmp_path, 3))._cluster_id()
    assert first == EmbeddedBroker(_settings(tmp_path, 3))._cluster_id()
    assert len(first) == 22  # a base64 UUID, as kafka-storage random-uuid makes


def test_a_stopped_node_is_waited_for_and_reaped_and_a_stuck_one_killed(tmp_path: Path) -> None:
    """A node that ignores SIGTERM past the timeout is killed; either way it is gone (not a zombie of
    this process) when stop returns."""
    import subprocess
    import sys

    from services.tools.runtime.broker_node import BrokerNode
    from services.tools.runtime.processes import alive

    node = EmbeddedBroker(_settings(tmp_path, 1)).nodes[0]
    assert isinstance(node, BrokerNode)
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); "
        "time.sleep(60)"
    )
    for code, timeout_s in (("import time; time.sleep(60)", 30.0), (stubborn, 0.5)):
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
        if code == stubborn:
            assert child.stdout is not None and child.stdout.readline()  # its handler is set
        node.pid_file.parent.mkdir(parents=True, exist_ok=True)
        node.pid_file.write_text(str(child.pid))
        assert node.pid() == child.pid and node.stop(timeout_s) is True
        assert not alive(child.pid) and not node.pid_file.exists()
        with pytest.raises(ChildProcessError):
            os.waitpid(child.pid, os.WNOHANG)  # reaped already
    assert node.stop() is False
