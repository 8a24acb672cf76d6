"""The embedded broker's SASL_SSL mode: certificates (openssl, at set-up), a SCRAM user, client settings.

Every listener is TLS and asks for a client certificate signed by the set-up's CA: clients on
SASL_SSL also log in with SCRAM-SHA-512; the inter-broker and controller listeners take the
certificate alone. Nothing secret is written into a file other than the keys and the password file
(owner-only, under the cache folder), and nothing is passed on a command line."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from services.common.config import KafkaSettings
from services.common.errors import ConfigError

__all__ = ["USER", "BrokerTls", "create_user"]

USER = "rtloop"
_DAYS = "3650"


@dataclass(frozen=True)
class BrokerTls:
    """The files of one broker's TLS and SCRAM material (made once, kept with its data)."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def broker_keystore(self) -> Path:
        """The broker's private key and certificate in one PEM file (Kafka's PEM keystore)."""
        return self.folder / "broker-keystore.pem"

    @property
    def client_cert(self) -> Path:
        return self.folder / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.folder / "client.key"

    @property
    def password_file(self) -> Path:
        return self.folder / "client.password"

    def ensure(self) -> BrokerTls:
        """Make whatever is missing: a CA, the broker's and a client's certificate, the user's password."""
        if all(p.exists() for p in (self.ca, self.broker_keystore, self.client_cert, self.client_key)):
            self.password()
            return self
        if shutil.which("openssl") is None:
            raise ConfigError("openssl not found: apt-get install openssl (the broker's TLS certificates)")
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        work = self.folder
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            _DAYS,
            "-subj",
            "/CN=rtloop-ca",
            "-keyout",
            str(work / "ca.key"),
            "-out",
            str(self.ca),
        )
        (work / "ca.key").chmod(0o600)
        self._signed("broker", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost")
        self._signed("client", f"/CN={USER}", "extendedKeyUsage=clientAuth")
        keystore = (work / "broker.key").read_bytes() + (work / "broker.pem").read_bytes()
        _private(self.broker_keystore, keystore)
        (work / "client.key").chmod(0o600)
        self.password()
        return self

    def _signed(self, name: str, subject: str, extension: str) -> None:
        work = self.folder
        key, csr, ext = work / f"{name}.key", work / f"{name}.csr", work / f"{name}.ext"
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", str(key), "-out", str(csr)
        )
        ext.write_text(extension + "\n")
        _openssl(
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(self.ca),
            "-CAkey",
            str(work / "ca.key"),
            "-CAcreateserial",
            "-days",
            _DAYS,
            "-extfile",
            str(ext),
            "-out",
            str(work / f"{name}.pem"),
        )
        key.chmod(0o600)

    def password(self) -> str:
        """The SCRAM user's password (made once, owner-only)."""
        if not self.password_file.exists():
            _private(self.password_file, secrets.token_urlsafe(24).encode())
        return self.password_file.read_text().strip()

    def client(self, port: int, *, sasl: bool = True) -> KafkaSettings:
        """Settings of a client of this broker: SASL_SSL as the user (or SSL with the certificate alone,
        on the internal listener at `port`)."""
        tls = KafkaSettings(
            embedded_port=port,
            security_protocol="SSL",
            ssl_ca_location=self.ca,
            ssl_certificate_location=self.client_cert,
            ssl_key_location=self.client_key,
            sasl_mechanism=None,  # not whatever KAFKA_SASL_* this environment holds
            sasl_username=None,
            sasl_password=None,
        )
        if not sasl:
            return tls
        return tls.model_copy(
            update={
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_username": USER,
                "sasl_password": SecretStr(self.password()),
            }
        )

    def environment(self) -> dict[str, str]:
        """The KAFKA_* variables a service needs to be such a client (the password among them)."""
        return {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": USER,
            "KAFKA_SASL_PASSWORD": self.password(),
            "KAFKA_SSL_CA_LOCATION": str(self.ca),
            "KAFKA_SSL_CERTIFICATE_LOCATION": str(self.client_cert),
            "KAFKA_SSL_KEY_LOCATION": str(self.client_key),
        }


def create_user(tls: BrokerTls, internal_port: int) -> None:
    """Create (or set again) the SCRAM-SHA-512 user through the certificate-only internal listener."""
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    from services.common.kafka.clients import make_admin

    admin = make_admin(tls.client(internal_port, sasl=False))
    upsert = UserScramCredentialUpsertion(
        USER, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), tls.password().encode()
    )
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(30)


def _private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _openssl(*args: str) -> None:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"openssl {args[0]} failed: {done.stderr.strip()[-1000:]}")
