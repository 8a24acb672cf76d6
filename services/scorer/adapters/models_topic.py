"""Follows the compacted models topic: verifies, loads and warms each new version off the scoring thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from pydantic import ValidationError

from services.common.config import KafkaSettings
from services.common.contracts import ModelVersionV1, decoder_for
from services.common.errors import DecodeError
from services.common.kafka.envelope import Headers, header
from services.common.kafka.follow import follow_topic
from services.common.registry import ModelRejected, verify_model
from services.common.signing import HEADER, verified
from services.scorer.adapters.onnx_runtime import Served, load_model

__all__ = ["ModelWatcher", "Refusal"]

log = logging.getLogger(__name__)
Refusal = Callable[[ModelVersionV1 | None, ModelRejected], None]
Loader = Callable[[ModelVersionV1, bytes, list[str], int], Served]  # version, bytes, providers, threads
_decode = decoder_for(ModelVersionV1)


class ModelWatcher(threading.Thread):
    """Reads `models` from the start (no group, no commits). A message without the signature of the
    shared key is refused; the newest production and shadow versions of `name` are loaded here and
    handed over with `take()` between batches; a version that fails a check is refused through
    `on_refused` and the serving model stays."""

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        name: str,
        features: list[str],
        providers: list[str],
        on_refused: Refusal,
        signing_key: bytes,
        intra_op_threads: int = 0,
        loader: Loader = load_model,
    ) -> None:
        super().__init__(name="model-watcher", daemon=True)
        self.kafka, self.topic, self.model_name, self._key = kafka, topic, name, signing_key
        self.features, self.providers, self.threads = features, providers, intra_op_threads
        self.on_refused, self.loader = on_refused, loader
        self.caught_up = threading.Event()
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict[str, Served | None] = {}
        self._latest: dict[str, tuple[str, str]] = {}  # stage → (version, sha256) last accepted

    def stop(self) -> None:
        """End the thread after its current poll."""
        self._stop_event.set()

    def take(self) -> dict[str, Served | None]:
        """Models loaded since the last call, by stage (None: the shadow was withdrawn)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        return pending

    def run(self) -> None:
        """Follow the topic until stopped."""
        try:
            follow_topic(self.kafka, self.topic, self._on_message, self._stop_event, self.caught_up)
        except Exception:
            log.exception("model watcher stopped")
            raise

    def _on_message(self, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        stage = {self.model_name.encode(): "production", f"{self.model_name}/shadow".encode(): "shadow"}.get(
            key or b""
        )
        if stage is None:
            return
        if not value:  # a tombstone withdraws the shadow; production is never withdrawn this way
            if stage == "shadow":
                self._hand_over(stage, None, None)
            return
        try:
            version = _decode(value)
        except (DecodeError, ValidationError) as exc:
            self.on_refused(
                None, ModelRejected("invalid_message", f"unreadable ModelVersion on {self.topic}: {exc}")
            )
            return
        found = header(headers, HEADER)
        if not verified(self._key, key or b"", value, found):
            reason = "unsigned" if found is None else "bad_signature"
            refusal = ModelRejected(
                reason,
                f"{version.name} {version.version} on {self.topic} is {reason}: "
                "only training, with the model signing key, publishes models",
            )
            log.error("refused %s %s (%s)", version.name, version.version, reason)
            self.on_refused(version, refusal)
            return
        if version.stage != stage:
            if stage == "shadow":
                self._hand_over(stage, None, None)
            return
        if self._latest.get(stage) == (version.version, version.sha256):
            return
        try:
            data = verify_model(version, self.features)
            model = self.loader(version, data, self.providers, self.threads)
        except ModelRejected as exc:
            log.error("refused %s %s (%s): %s", version.name, version.version, exc.reason, exc)
            self.on_refused(version, exc)
            return
        self._hand_over(stage, model, (version.version, version.sha256))

    def _hand_over(self, stage: str, model: Served | None, ident: tuple[str, str] | None) -> None:
        with self._lock:
            self._pending[stage] = model
        if ident is None:
            self._latest.pop(stage, None)
        else:
            self._latest[stage] = ident
