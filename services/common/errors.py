"""The typed error tree: transient errors are retried, permanent ones are dead-lettered."""

from __future__ import annotations

import errno
import sqlite3

__all__ = [
    "ConfigError",
    "DecodeError",
    "PermanentError",
    "RtloopError",
    "TransientError",
    "dependency_of",
    "is_transient",
]


class RtloopError(Exception):
    """Base of every error rtloop raises on purpose."""


class TransientError(RtloopError):
    """The operation may succeed later (broker or store unavailable): retry with backoff, never drop."""

    dependency = "a dependency"


class PermanentError(RtloopError):
    """Retrying cannot help (bad input): the message goes to the dead-letter topic."""


class DecodeError(PermanentError):
    """A message value that does not satisfy its contract; `reason` is a short machine code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ConfigError(RtloopError):
    """A missing or invalid setting; the message says what to set."""


# Outages of the online stores, by class (not imported: not every service installs redis-py). redis-py's
# ConnectionError and TimeoutError do not derive from the built-in ones; BusyLoadingError derives from
# its ConnectionError. sqlite3's OperationalError also covers a bad query: only a locked database is.
_STORE_OUTAGES = {("redis.exceptions", "ConnectionError"), ("redis.exceptions", "TimeoutError")}
_SQLITE_BUSY = ("database is locked", "database table is locked")
# Storage that is full, read-only for a while or failing (a Delta append, a checkpoint): the write is retried
# once there is room again; delta-rs wraps the OS error in its own exception, with the same text.
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EAGAIN, errno.EBUSY}
_STORAGE_TEXT = ("No space left on device", "Disk quota exceeded", "Input/output error", "os error 28")


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: our TransientError, network errors (the built-in ones and
    redis-py's), a locked sqlite database, full or failing storage, retriable Kafka errors."""
    if isinstance(exc, TransientError | ConnectionError | TimeoutError):
        return True
    if any((cls.__module__, cls.__name__) in _STORE_OUTAGES for cls in type(exc).__mro__):
        return True
    if isinstance(exc, sqlite3.OperationalError) and str(exc).startswith(_SQLITE_BUSY):
        return True
    if dependency_of(exc) == "storage":
        return True
    kafka_error = exc.args[0] if exc.args else None
    retriable = getattr(kafka_error, "retriable", None)
    return bool(callable(retriable) and retriable())


def dependency_of(exc: BaseException) -> str:
    """What a transient error says is down, for /readyz and the metrics: redis, sqlite, storage, kafka,
    the network, or what a TransientError names."""
    if isinstance(exc, TransientError):
        return exc.dependency
    if any(cls.__module__.startswith("redis") for cls in type(exc).__mro__):
        return "redis"
    if isinstance(exc, sqlite3.Error):
        return "sqlite"
    if (isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS) or any(
        t in str(exc) for t in _STORAGE_TEXT
    ):
        return "storage"
    if exc.args and callable(getattr(exc.args[0], "retriable", None)):
        return "kafka"
    return "the network"
