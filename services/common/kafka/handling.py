"""A batch through a service's handler: transient errors retried, the events that fail dead-lettered."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from services.common.kafka.dlq import dead_letter
from services.common.kafka.envelope import Envelope, Output
from services.common.kafka.retry import Backoff, Interrupted, retry_transient
from services.common.metrics import RunnerMetrics
from services.common.outages import Outages

__all__ = ["Failed", "Handler", "Handling"]

log = logging.getLogger(__name__)
Handler = Callable[[Sequence[Envelope[Any]]], Sequence[Output]]
Failed = list[tuple[Envelope[Any], BaseException]]


class Handling:
    """Calls the handler on a batch, retrying transient errors (the outage shows meanwhile). When the
    batch fails otherwise, each event is handled on its own and only those that fail are dead-lettered."""

    def __init__(
        self,
        service: str,
        dlq_topic: str,
        handler: Handler,
        *,
        backoff: Backoff,
        metrics: RunnerMetrics,
        outages: Outages,
        stop: threading.Event,
    ) -> None:
        self.service, self.dlq_topic, self.handler = service, dlq_topic, handler
        self.backoff, self.metrics, self.outages, self.stop = backoff, metrics, outages, stop

    def __call__(self, envs: list[Envelope[Any]], tick: bool = False) -> tuple[list[Output], Failed]:
        """The outputs of `envs`, and the events that failed with why (a tick's failure is only logged:
        the next tick tries again)."""
        if not envs and not tick:
            return [], []
        try:
            return list(self._call(envs)), []
        except Interrupted:
            raise
        except Exception as exc:
            if tick:
                log.warning("%s: tick failed (%s)", self.service, exc)
                return [], []
            if len(envs) == 1:
                return [], [(envs[0], exc)]
            log.info("%s: batch handler failed (%s); isolating", self.service, exc)
        outputs: list[Output] = []
        failed: Failed = []
        for env in envs:
            if self.stop.is_set():  # isolating thousands can take long: the batch comes again on restart
                raise Interrupted(f"stop requested while isolating a failed {self.service} batch")
            try:
                outputs.extend(self._call([env]))
            except Interrupted:
                raise
            except Exception as exc:
                failed.append((env, exc))
        return outputs, failed

    def _call(self, envs: list[Envelope[Any]]) -> Sequence[Output]:
        outputs = retry_transient(
            lambda: self.handler(envs),
            backoff=self.backoff,
            stop=self.stop,
            what=f"{self.service} handler",
            on_retry=functools.partial(self.outages.waiting, "handle"),
        )
        self.outages.recovered()
        return outputs

    def dead_letter(self, env: Envelope[Any], exc: BaseException) -> Output:
        """The dead letter of `env`, with the reason of `exc` (handler_error when it names none)."""
        reason = getattr(exc, "reason", None) or "handler_error"
        self.metrics.dead_lettered.labels(self.service, reason).inc()
        log.info("%s: dead-letter %s[%d]@%d: %s", self.service, env.topic, env.partition, env.offset, exc)
        return dead_letter(
            dlq_topic=self.dlq_topic,
            service=self.service,
            error=exc,
            topic=env.topic,
            partition=env.partition,
            offset=env.offset,
            key=env.key,
            value=env.raw,
            headers=env.headers,
        )
