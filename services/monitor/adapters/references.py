"""The drift references of the production model: its version followed on `models` by a helper thread,
its statistics from the registry (written by `rtloop train` from its training window)."""

from __future__ import annotations

import logging
import threading

import orjson
from confluent_kafka import KafkaException

from services.common.config import KafkaSettings
from services.common.drift import Reference
from services.common.kafka.envelope import Headers
from services.common.kafka.follow import follow_topic
from services.common.ranking import popularity_of
from services.common.registry import Registry

__all__ = ["Current", "References"]

log = logging.getLogger(__name__)
# model version, inputs (a ranking's: its recommended items' popularity) and score references, and a
# ranking's item popularity (None: that version was registered without them)
Current = tuple[str, Reference | None, Reference | None, dict[str, float] | None]


class References(threading.Thread):
    """Follows `models` from its start (no group, no commits) on its own thread, so a window close never
    waits on Kafka for the production version; references are read from the registry once per version."""

    def __init__(self, kafka: KafkaSettings, models_topic: str, registry: Registry, name: str) -> None:
        super().__init__(name="references", daemon=True)
        self.kafka, self.topic, self.registry, self.model_name = kafka, models_topic, registry, name
        self.caught_up = threading.Event()
        self._stop_event = threading.Event()
        self._version: str | None = None
        self._cache: dict[str, Current] = {}

    def stop(self) -> None:
        """End the thread after its current poll."""
        self._stop_event.set()

    def current(self) -> Current | None:
        """The production model's version and references, or None (no production model yet)."""
        version = self._version
        if version is None:
            return None
        if version not in self._cache:
            data = self.registry.reference(self.model_name, version)
            if data is None:
                log.warning(
                    "%s %s has no reference.json: retrain it with rtloop train", self.model_name, version
                )
                self._cache[version] = (version, None, None, None)
            else:
                inputs, score = Reference.from_dict(data["inputs"]), Reference.from_dict(data["score"])
                popularity = popularity_of(data) if "popularity" in data else None
                self._cache[version] = (version, inputs, score, popularity)
                log.info("drift reference: %s (%d rows)", inputs.source, inputs.rows)
        return self._cache[version]

    def run(self) -> None:
        """Read the topic until stopped; `caught_up` is set once its end (at the start) was reached."""
        try:
            follow_topic(self.kafka, self.topic, self._on_message, self._stop_event, self.caught_up)
        except (KafkaException, KeyError) as exc:
            log.error("references: cannot follow %s (%s): drift uses the last version read", self.topic, exc)
        finally:
            self.caught_up.set()

    def _on_message(self, key: bytes | None, value: bytes | None, _headers: Headers) -> None:
        if (key or b"").decode() != self.model_name or not value:
            return
        try:
            doc = orjson.loads(value)
            stage, version = doc.get("stage"), str(doc["version"])
        except (orjson.JSONDecodeError, KeyError, AttributeError) as exc:
            log.warning("references: a record on %s is not a ModelVersion (%s): skipped", self.topic, exc)
            return
        if stage == "production" and version != self._version:
            self._version = version
            log.info("production model: %s %s", self.model_name, self._version)
