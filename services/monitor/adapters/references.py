"""The drift references of the production model: its version from `models`, its statistics from the
registry (written by `rtloop train` from its training window)."""

from __future__ import annotations

import logging
import time

import orjson

from services.common.config import KafkaSettings
from services.common.drift import Reference
from services.common.kafka.scan import scan_topic
from services.common.registry import Registry

__all__ = ["Current", "References"]

log = logging.getLogger(__name__)
# model version, inputs and score references (None: that version was registered without them)
Current = tuple[str, Reference | None, Reference | None]


class References:
    """Looks up the production version at most every `refresh_s` and caches references per version."""

    def __init__(
        self, kafka: KafkaSettings, models_topic: str, registry: Registry, name: str, refresh_s: float = 30.0
    ) -> None:
        self.kafka, self.topic, self.registry, self.name = kafka, models_topic, registry, name
        self.refresh_s = refresh_s
        self._version: str | None = None
        self._checked = float("-inf")
        self._cache: dict[str, Current] = {}

    def production(self) -> str | None:
        """The newest production version of the model on `models`."""
        if time.monotonic() - self._checked >= self.refresh_s:
            self._checked = time.monotonic()
            for msg in scan_topic(self.kafka, self.topic, idle_timeout_s=2.0):
                key = (msg.key() or b"").decode()
                if key == self.name and msg.value():
                    doc = orjson.loads(msg.value())
                    if doc.get("stage") == "production":
                        self._version = str(doc["version"])
        return self._version

    def current(self) -> Current | None:
        """The production model's version and references, or None (no production model yet)."""
        version = self.production()
        if version is None:
            return None
        if version not in self._cache:
            data = self.registry.reference(self.name, version)
            if data is None:
                log.warning("%s %s has no reference.json: retrain it with rtloop train", self.name, version)
                self._cache[version] = (version, None, None)
            else:
                inputs, score = Reference.from_dict(data["inputs"]), Reference.from_dict(data["score"])
                self._cache[version] = (version, inputs, score)
                log.info("drift reference: %s (%d rows)", inputs.source, inputs.rows)
        return self._cache[version]
