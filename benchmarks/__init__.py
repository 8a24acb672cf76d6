"""Benchmarks (`make bench`): figures on stdout and a final `BENCH {json}` line; never gate CI."""

import os
import secrets


def signing_key() -> bytes:
    """The model signing key of this run's processes (MODEL_SIGNING_KEY, made once, inherited by children)."""
    return os.environ.setdefault("MODEL_SIGNING_KEY", secrets.token_hex(32)).encode()
