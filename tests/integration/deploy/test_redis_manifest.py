"""k8s Redis: the password from its Secret reaches redis-server through a file, on no command line."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from services.tools.deploy.k8s import K8S

pytestmark = pytest.mark.integration

PASSWORD = 'pa"ss\\w rd$x'  # quotes, a backslash, a space and a $ survive the config file


def _pod() -> dict:  # type: ignore[type-arg]
    docs = yaml.safe_load_all((K8S / "base" / "redis.yaml").read_text())
    return next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_password_is_on_no_command_line_and_redis_requires_it(tmp_path: Path) -> None:
    """The manifest's own init command and redis-server arguments, run here with /config and /data
    mapped to a temporary folder: the server asks for the Secret's password, and neither process's
    arguments hold it (the readiness probe authenticates through REDISCLI_AUTH, also not an argument)."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail(
            "redis-server is not installed: `apt-get install redis-server` (.ci/run does; tests never skip)"
        )
    pod = _pod()
    (init,) = pod["initContainers"]
    (redis,) = pod["containers"]
    for container in (init, redis):
        assert all(PASSWORD not in a and "REDIS_PASSWORD)" not in a for a in container.get("args", []))
    probe = redis["readinessProbe"]["exec"]["command"]
    assert "REDISCLI_AUTH=" in probe[-1] and " -a " not in probe[-1]

    def local(arg: str) -> str:
        return arg.replace("/config/", f"{tmp_path}/").replace("/data", str(tmp_path))

    env = {"PATH": os.environ["PATH"], "REDIS_PASSWORD": PASSWORD}
    subprocess.run([local(a) for a in init["command"]], env=env, check=True, timeout=10)
    assert (tmp_path / "redis.conf").stat().st_mode & 0o077 == 0, "only its owner reads the file"
    port = _free_port()
    args = [server, *(local(a) for a in redis["args"]), "--port", str(port), "--save", ""]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cli = ["redis-cli", "-p", str(port), "ping"]
        deadline = time.monotonic() + 10
        while (got := subprocess.run(cli, capture_output=True, text=True, check=False)).stdout.strip() in (
            "",
            "LOADING",
        ):
            assert time.monotonic() < deadline, got.stderr
            time.sleep(0.1)
        assert "NOAUTH" in got.stdout, "a client without the password is refused"
        with_password = env | {"REDISCLI_AUTH": PASSWORD}
        authed = subprocess.run(cli, env=with_password, capture_output=True, text=True, check=False)
        assert authed.stdout.strip() == "PONG", authed
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode()
        assert PASSWORD not in cmdline and "requirepass" not in cmdline
    finally:
        proc.terminate()
        proc.wait(timeout=10)
