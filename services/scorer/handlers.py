"""The scorer's handler (thin): swap models between batches, skip ids answered, look up, score, emit."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import orjson

from services.common.errors import PermanentError, TransientError
from services.common.kafka.envelope import Envelope, Output, header
from services.common.kafka.seen import SeenIds
from services.scorer.adapters.lookup import ListLookup, OnlineLookup
from services.scorer.adapters.metrics import ScorerMetrics
from services.scorer.adapters.onnx_runtime import Served
from services.scorer.core import Scored, score
from services.scorer.ranking import ListBatch
from services.scorer.transforms import FeatureBatch, RequestFields

__all__ = ["InputsMissing", "ScoreHandler", "WaitingForInputs"]

log = logging.getLogger(__name__)


class WaitingForInputs(TransientError):
    """Online inputs of the batch are missing: retried (the store restarting, features catching up)."""

    dependency = "online inputs"


class InputsMissing(PermanentError):
    """Online inputs still missing after the wait: the event is dead-lettered (replay it once they are
    back: `rtloop dlq replay --reason missing_inputs`)."""

    reason = "missing_inputs"


class ScoreHandler:
    """Runs the core on each micro-batch; the runner publishes the outputs and the offsets atomically.
    The core is `score` (probability models, inputs looked up) or `ranking.recommend` (ranking models,
    lists looked up)."""

    def __init__(
        self,
        lookup: OnlineLookup | ListLookup,
        model: Served,
        take_models: Callable[[], dict[str, Served | None]],
        predictions_topic: str,
        seen: SeenIds,
        metrics: ScorerMetrics,
        fields: RequestFields,
        shadow: Served | None = None,
        chunk: int = 1000,
        missing_wait_s: float = 60.0,
        core: Callable[..., Scored] = score,
    ) -> None:
        self.lookup, self.model, self.shadow, self.fields, self.core = lookup, model, shadow, fields, core
        self.chunk, self.missing_wait_s = chunk, missing_wait_s
        self._missing_since: dict[str, float] = {}  # event id → when its inputs were first found missing
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="scorer-lookup")
        self.take_models, self.topic = take_models, predictions_topic
        self.seen, self.metrics = seen, metrics
        self._show("production", model)

    def _show(self, stage: str, model: Served | None) -> None:
        if model is not None:
            self.metrics.model.labels(stage, model.info.name, model.info.version, model.provider).set(1)

    def swap(self) -> None:
        """Put in the models the watcher loaded since the last batch (between batches only)."""
        for stage, model in self.take_models().items():
            old = self.model if stage == "production" else self.shadow
            if old is not None:
                self.metrics.model.remove(stage, old.info.name, old.info.version, old.provider)
            if stage == "production" and model is not None:
                self.model = model
            elif stage == "shadow":
                self.shadow = model
            self.metrics.reloads.labels(stage).inc()
            self._show(stage, model)
            log.info(
                "now serving %s: %s", stage, f"{model.info.version} on {model.provider}" if model else "none"
            )

    def __call__(self, envs: Sequence[Envelope[Any]]) -> list[Output]:
        """Predictions for the batch's events not answered before, and the state records that say so."""
        started = time.perf_counter()
        self.swap()
        todo, ids = [], set()
        for env in envs:
            event_id = env.value.id
            if (env.partition, event_id) not in ids and not self.seen.known(env.partition, event_id):
                ids.add((env.partition, event_id))
                todo.append(env)
        if len(todo) < len(envs):
            self.metrics.duplicates.inc(len(envs) - len(todo))
        if not todo:
            return []
        outputs: list[Output] = []
        chunks = [todo[i : i + self.chunk] for i in range(0, len(todo), self.chunk)]
        ahead = self._pool.submit(self._lookup, chunks[0])
        try:
            for i, chunk in enumerate(chunks):
                batch = ahead.result()
                self._inputs_present(chunk, batch, alone=len(todo) == 1)
                if i + 1 < len(chunks):  # the store works on the next chunk while this one is scored
                    ahead = self._pool.submit(self._lookup, chunks[i + 1])
                outputs += self._outputs(
                    chunk,
                    batch,
                    self.core(batch, self.model, self.shadow, fields=self.fields, started=started),
                )
        finally:
            if not ahead.cancel():
                ahead.exception()  # wait: never leave a lookup running into the handler's next attempt
        per_partition: dict[int, list[Envelope[Any]]] = {}
        for env in todo:
            self._missing_since.pop(env.value.id, None)
            per_partition.setdefault(env.partition, []).append(env)
        for p, answered in per_partition.items():
            outputs.append(self.seen.answered(p, answered[0].offset, [e.value.id for e in answered]))
        return outputs

    def _inputs_present(
        self, chunk: list[Envelope[Any]], batch: FeatureBatch | ListBatch, alone: bool
    ) -> None:
        """Never score a missing input as 0: WaitingForInputs (retried) until every event missing one
        has waited `missing_wait_s`, then InputsMissing, which the runner isolates to those events (an
        event `alone` in its call is then dead-lettered, and forgotten here)."""
        rows = np.flatnonzero(batch.missing)
        if not len(rows):
            return
        self.metrics.missing_inputs.inc(len(rows))
        now = time.monotonic()
        if len(self._missing_since) > 100_000:  # bounded: a forgotten event waits once more
            self._missing_since.clear()
        ids = [chunk[i].value.id for i in rows]
        newest = max(self._missing_since.setdefault(event_id, now) for event_id in ids)
        if now - newest < self.missing_wait_s:
            raise WaitingForInputs(f"online inputs missing for {len(ids)} events, e.g. {ids[0]!r}: waiting")
        if alone:
            self._missing_since.pop(ids[0], None)
        raise InputsMissing(
            f"online inputs of {len(ids)} events, e.g. {ids[0]!r}, still missing after "
            f"{self.missing_wait_s:g} s: is features writing to this online store?"
        )

    def _lookup(self, chunk: list[Envelope[Any]]) -> FeatureBatch | ListBatch:
        return self.lookup.batch([e.value for e in chunk])

    def _outputs(
        self, chunk: list[Envelope[Any]], batch: FeatureBatch | ListBatch, scored: Scored
    ) -> list[Output]:
        self.metrics.lookup_seconds.observe(batch.lookup_ms / 1000)
        self.metrics.inference_seconds.observe(scored.inference_ms / 1000)
        self.metrics.replaced.inc(batch.replaced)
        self.metrics.predictions.labels("production").inc(len(scored.primary))
        outputs = [self._output(env, doc) for env, doc in zip(chunk, scored.primary, strict=True)]
        if scored.shadow:
            self.metrics.predictions.labels("shadow").inc(len(scored.shadow))
            outputs += [self._output(env, doc) for env, doc in zip(chunk, scored.shadow, strict=True)]
        return outputs

    def _output(self, env: Envelope[Any], doc: dict[str, Any]) -> Output:
        trace = header(env.headers, "traceparent")
        headers = (("traceparent", trace),) if trace is not None else ()
        return Output(self.topic, orjson.dumps(doc), key=env.key, headers=headers)
