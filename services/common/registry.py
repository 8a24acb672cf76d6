"""The model registry folder: `<root>/<name>/<version>/model.onnx` + `model.json`, and its checks."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.common.contracts import ModelVersionV1
from services.common.errors import PermanentError

__all__ = [
    "ModelRejected",
    "Registry",
    "sha256_bytes",
    "verify_model",
]


class ModelRejected(PermanentError):
    """A model version that must not serve: unreadable, wrong checksum or wrong inputs."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def _resolve(uri: str) -> Path:
    return Path(uri[len("file://") :]) if uri.startswith("file://") else Path(uri)


def verify_model(version: ModelVersionV1, expected_features: list[str]) -> bytes:
    """The model bytes of `version`, after checking its checksum and its input list; else ModelRejected."""
    if version.features != expected_features:
        missing = [f for f in expected_features if f not in version.features]
        extra = [f for f in version.features if f not in expected_features]
        raise ModelRejected(
            "feature_mismatch",
            f"{version.name} {version.version} expects other inputs than the feature service serves "
            f"(missing {missing}, unknown {extra}, or another order): retrain it on this feature service",
        )
    path = _resolve(version.uri)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelRejected(
            "unreadable", f"{version.name} {version.version}: cannot read {path}: {exc}"
        ) from None
    digest = sha256_bytes(data)
    if digest != version.sha256:
        raise ModelRejected(
            "checksum",
            f"{version.name} {version.version}: sha256 of {path} is {digest[:12]}…, the registry says "
            f"{version.sha256[:12]}… (corrupt or replaced file): register and publish it again",
        )
    return data


class Registry:
    """A folder of model versions; `PRODUCTION` in a model's folder names its production version."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, name: str, version: str) -> Path:
        """Where one version lives."""
        return self.root / name / version

    def write(
        self, card: dict[str, Any], onnx_bytes: bytes, reference: dict[str, Any] | None = None
    ) -> ModelVersionV1:
        """Store model.onnx, its drift reference (reference.json: statistics of the inputs and scores of
        its training window) and its card (sha256 added): model first, card last."""
        folder = self.folder(card["name"], card["version"])
        folder.mkdir(parents=True, exist_ok=True)
        if reference is not None:
            (folder / "reference.json").write_text(json.dumps(reference) + "\n")
        model = folder / "model.onnx"
        tmp = model.with_suffix(".tmp")
        tmp.write_bytes(onnx_bytes)
        os.replace(tmp, model)
        card = card | {"sha256": sha256_bytes(onnx_bytes), "uri": str(model.resolve())}
        card.setdefault("created_at", datetime.now(UTC).isoformat())
        card.setdefault("stage", "candidate")
        (folder / "model.json").write_text(json.dumps(card, indent=2, default=str) + "\n")
        return self.version_of(card)

    @staticmethod
    def version_of(card: dict[str, Any]) -> ModelVersionV1:
        """The ModelVersion message of a card."""
        fields = ModelVersionV1.model_fields
        return ModelVersionV1.model_validate({k: v for k, v in card.items() if k in fields})

    def reference(self, name: str, version: str) -> dict[str, Any] | None:
        """A version's drift reference (None for a version trained without one)."""
        try:
            data: dict[str, Any] = json.loads((self.folder(name, version) / "reference.json").read_text())
        except FileNotFoundError:
            return None
        return data

    def card(self, name: str, version: str) -> dict[str, Any]:
        """A version's model.json."""
        path = self.folder(name, version) / "model.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            raise ModelRejected("not_found", f"no model {name} {version} in {self.root}") from None
        return data

    def versions(self, name: str) -> list[str]:
        """Every version of `name` with a card, oldest first."""
        base = self.root / name
        if not base.is_dir():
            return []
        return sorted(p.parent.name for p in base.glob("*/model.json"))

    def production(self, name: str) -> str | None:
        """The version marked production, if any."""
        marker = self.root / name / "PRODUCTION"
        return marker.read_text().strip() or None if marker.is_file() else None

    def set_stage(self, name: str, version: str, stage: str) -> ModelVersionV1:
        """Record a stage in the card (and the production marker)."""
        card = self.card(name, version) | {"stage": stage}
        (self.folder(name, version) / "model.json").write_text(json.dumps(card, indent=2, default=str) + "\n")
        if stage == "production":
            (self.root / name / "PRODUCTION").write_text(version + "\n")
        return self.version_of(card)
