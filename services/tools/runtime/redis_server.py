"""A private redis-server (the Debian package) for benchmarks and tests on one port."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from services.common.errors import ConfigError

__all__ = ["start_redis"]


def start_redis(
    port: int, workdir: Path, timeout_s: float = 10.0, persistent: bool = False, password: str | None = None
) -> subprocess.Popen[bytes]:
    """Start redis-server on 127.0.0.1:`port` and wait until it answers PING; `persistent`: an
    append-only file in `workdir`, written before each reply and fsynced every second (a restart of the
    process keeps every write; a crash of the machine loses at most the last second). A `password`
    reaches it as configuration on its standard input, never on its command line."""
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        raise ConfigError("redis-server not found: apt-get install redis-server (or set REDIS_URL)")
    workdir.mkdir(parents=True, exist_ok=True)
    durability = (
        ["--appendonly", "yes", "--appendfsync", "everysec"] if persistent else ["--appendonly", "no"]
    )
    proc = subprocess.Popen(
        [binary, "-", "--port", str(port), "--bind", "127.0.0.1", "--save", "", *durability],
        cwd=workdir,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    if password is not None:
        quoted = password.replace("\\", "\\\\").replace('"', '\\"')
        proc.stdin.write(f'requirepass "{quoted}"\n'.encode())
    proc.stdin.close()
    client = redis.Redis(port=port, password=password)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.ping()
            return proc
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise ConfigError(f"redis-server did not start on port {port}") from None
            time.sleep(0.05)
