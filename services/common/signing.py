"""Model messages signed with a shared key (HMAC-SHA256): training signs, the scorer verifies."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr

from services.common.errors import ConfigError

__all__ = ["HEADER", "SigningKey", "SigningKeyFile", "signature", "signing_key", "verified"]

HEADER = "rtloop.signature"

# the two settings of every process that signs or verifies (training, the CLI, the scorer)
SigningKey = Annotated[
    SecretStr | None,
    Field(
        default=None,
        validation_alias=AliasChoices("MODEL_SIGNING_KEY"),
        description="HMAC key of model messages (a secret, never shown; k8s: Secret rtloop-model-signing); "
        "unset: read from model_signing_key_file",
    ),
]
SigningKeyFile = Annotated[
    Path,
    Field(
        default=Path(__file__).resolve().parents[2] / "data" / "secrets" / "model-signing.key",
        validation_alias=AliasChoices("MODEL_SIGNING_KEY_FILE"),
        description="file holding the model signing key (`rtloop up` and `rtloop models key` make it)",
    ),
]


def signing_key(key: SecretStr | None, key_file: Path, *, create: bool = False) -> bytes:
    """The key: MODEL_SIGNING_KEY, else the contents of MODEL_SIGNING_KEY_FILE (made with a random key,
    readable by its owner only, when `create` and it does not exist yet)."""
    if key is not None:
        return key.get_secret_value().encode()
    if create and not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    try:
        found = key_file.read_text().strip()
    except OSError:
        raise ConfigError(
            f"no model signing key: set MODEL_SIGNING_KEY (k8s: the Secret rtloop-model-signing), or "
            f"MODEL_SIGNING_KEY_FILE to a file that holds it (not readable: {key_file}); training and "
            "the scorers share it, and `rtloop up` or `rtloop models key` makes one"
        ) from None
    if not found:
        raise ConfigError(f"the model signing key file {key_file} is empty")
    return found.encode()


def signature(key: bytes, message_key: bytes, value: bytes) -> bytes:
    """The signature of one models-topic message: its key (the model and stage) and its value."""
    return hmac.new(key, message_key + b"\0" + value, hashlib.sha256).hexdigest().encode()


def verified(key: bytes, message_key: bytes, value: bytes, found: bytes | None) -> bool:
    """Whether `found` is this message's signature (constant-time comparison)."""
    return found is not None and hmac.compare_digest(signature(key, message_key, value), found)
