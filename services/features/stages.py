"""The features handler on the shared runner: each view is a stage over its own input partitions.

The first view reads the clean stream (keyed by its entity); every later view reads a repartition topic
keyed by its entity, which the stage before writes (the Kafka Streams pattern), so N processes can
share the partitions and each entity's state lives in one of them; a record for a partition this
process owns is handled in the same batch instead. Per input partition a stage keeps its window state
(`PartitionState`), and each batch writes what changed as records of the view's compacted changelog
topic, in the same partition number, in the batch's transaction: state, outputs and input offsets
commit together (exactly once), and a new owner restores a partition's state from its changelog
before consuming it.

Feedback (labels) is read by the first stage and forwarded, keyed by the entity, to every later view
that takes it; a later stage holds its events until the partitions before them are in (`gate.py`)."""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from services.common.contracts.declared import UseCaseContracts
from services.common.kafka.envelope import Envelope, Output
from services.common.usecase.views import DAY_S
from services.features import records
from services.features.adapters.metrics import FeaturesMetrics
from services.features.adapters.sinks import FeatureSinks
from services.features.gate import Gate, Offsets, StageTopics
from services.features.handlers import FeatureEngine
from services.features.state import PartitionState, StateTable

__all__ = ["FeatureStages"]

log = logging.getLogger(__name__)


class FeatureStages:
    """The runner's handler (and its assignment hooks) for every view's stage."""

    def __init__(
        self,
        engines: Sequence[Callable[[StateTable], FeatureEngine]],
        sinks: Sequence[FeatureSinks],
        topics: StageTopics,
        restore: Callable[[str, int], dict[str, bytes]],
        *,
        feature_service: str,
        contracts: UseCaseContracts,
        label_wait_s: float,
        metrics: FeaturesMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engines, self.sinks, self.topics, self._restore = list(engines), list(sinks), topics, restore
        self.feature_service, self.metrics = feature_service, metrics
        self._label = contracts.feedback  # None: the feedback is the next event (no labels topic)
        self._label_time = attrgetter(contracts.feedback_time or "")  # read only from a labels topic
        probe = [e(StateTable()) for e in self.engines]
        self.views = [e.views[0] for e in probe]
        self._entity = [attrgetter(v.entity) for v in self.views]
        self._time_field = probe[0].fields.time
        self._feedback = [i > 0 and v.takes_feedback for i, v in enumerate(self.views)]
        if self.views[0].takes_feedback:
            raise ValueError("the first view cannot take feedback: its feedback would need repartitioning")
        self._stage = {topic: i for i, topic in enumerate(topics.inputs)}
        self.states: dict[tuple[int, int], PartitionState] = {}
        self.labels_owned: set[int] = set()
        self.gate = Gate(
            topics,
            [v.delay_days * DAY_S for v in self.views],
            self._feedback,
            self._assigned,
            label_wait_s=label_wait_s,
            metrics=metrics,
            clock=clock,
        )
        self._newest: dict[str, float] = {}  # mark key → newest event time read from that partition
        self._sent: dict[str, int] = {}  # mark key ("<labels partition>", "c<clean partition>") → offset
        self._touched: dict[tuple[int, int], PartitionState] = {}
        # changelog records of the batches handled since the last commit: a failed call goes back to
        # the state before it, not before the runner's batch (an isolated event's neighbours count)
        self._pending: dict[tuple[int, int], dict[str, bytes | None]] = {}
        self._local: dict[tuple[int, int], list[dict[str, Any]]] = {}  # records for own partitions

    @property
    def offsets(self) -> Offsets | None:
        return self.gate.offsets

    @offsets.setter
    def offsets(self, offsets: Offsets | None) -> None:
        self.gate.offsets = offsets

    def _assigned(self, topic: str, p: int) -> bool:
        if topic == self.topics.labels:
            return p in self.labels_owned
        return (self._stage[topic], p) in self.states

    # -- assignment ----------------------------------------------------------------------------------
    def restore(self, stage: int, partition: int) -> PartitionState:
        """Partition `partition` of stage `stage` from its changelog (the state its offsets commit with)."""
        stored = self._restore(self.topics.changelogs[stage], partition)
        for key, value in self._pending.get((stage, partition), {}).items():
            if value is None:
                stored.pop(key, None)
            else:
                stored[key] = value
        state = PartitionState(stored, self.engines[stage])
        self.states[(stage, partition)] = state
        self.gate.loaded(stage, partition, state.table)
        return state

    def assigned(self, partitions: Sequence[tuple[str, int]]) -> None:
        """New partitions: their state is restored before anything of them is handled."""
        started = time.monotonic()
        for topic, p in partitions:
            if topic == self.topics.labels:
                self.labels_owned.add(p)
                self._sent.pop(str(p), None)
            elif topic in self._stage:
                self.restore(self._stage[topic], p)
                self._sent.pop(f"c{p}", None)
        restored = [(t, p) for t, p in partitions if t in self._stage]
        if restored:
            keys = sum(len(self.states[(self._stage[t], p)].table) for t, p in restored)
            log.info(
                "features: restored %d partitions (%d keys) in %.1f s",
                len(restored),
                keys,
                time.monotonic() - started,
            )

    def revoked(self, partitions: Sequence[tuple[str, int]]) -> None:
        """Partitions going away: their state goes too (the next owner restores it)."""
        for topic, p in partitions:
            if topic == self.topics.labels:
                self.labels_owned.discard(p)
            elif topic in self._stage:
                self.states.pop((self._stage[topic], p), None)
                self.gate.dropped(self._stage[topic], p)

    def committed(self) -> None:
        """The runner's transaction committed: its changelog records are in the changelog now."""
        self._pending.clear()

    def rewind(self) -> None:
        """A transaction aborted: every state back to its changelog, every mark sent again."""
        self._pending.clear()
        for stage, p in list(self.states):
            self.restore(stage, p)
        self._sent.clear()

    # -- one batch -----------------------------------------------------------------------------------
    def __call__(self, envs: Sequence[Envelope[Any]]) -> list[Output]:
        self._touched = {}
        self.gate.batch()
        sent: dict[str, int] = {}
        try:
            out = self._batch(envs, sent)
        except BaseException:  # the states it touched back as committed: the runner retries or isolates
            for stage, p in self._touched:
                self.restore(stage, p)
            raise
        self._sent.update(sent)
        return out

    def _batch(self, envs: Sequence[Envelope[Any]], sent: dict[str, int]) -> list[Output]:
        by_input: dict[tuple[str, int], list[Envelope[Any]]] = {}
        for env in envs:
            by_input.setdefault((env.topic, env.partition), []).append(env)
        self._local = {}
        out: list[Output] = []
        for (topic, p), items in by_input.items():
            if topic == self.topics.labels:
                out += self._forward_labels(p, items)
        for (topic, p), items in by_input.items():
            stage = self._stage.get(topic)
            if stage == 0:
                out += self._compute(
                    0, self._state(0, p), [(e.value, p, e.offset, None, e.key, e.raw) for e in items]
                )
            elif stage is not None:
                self._records(stage, p, [e.value for e in items])
        self._drain_local()
        out += self._marks(sent)
        self._drain_local()
        for stage in range(1, len(self.engines)):  # in order: what one releases reaches the next now
            for held_stage, p in sorted(self.gate.held):
                if held_stage == stage and self.gate.held[(stage, p)]:
                    out += self._release(stage, p)
            self._drain_local()
        for (stage, p), state in self._touched.items():
            topic, changes = self.topics.changelogs[stage], state.table.records()
            self._pending.setdefault((stage, p), {}).update(changes)
            out += [Output(topic, value, key.encode(), partition=p) for key, value in changes]
        return out

    def _drain_local(self) -> None:
        """Take in the records sent to this process's own partitions (earlier stages first)."""
        while self._local:
            target = min(self._local)
            self._records(*target, self._local.pop(target))

    def _send(
        self, stage: int, record: dict[str, Any], key: str | None, partition: int | None = None
    ) -> list[Output]:
        """A record for a later stage: handled in this batch when this process has its partition (one
        transaction instead of two), else produced to the stage's repartition topic."""
        q = (
            partition
            if partition is not None
            else zlib.crc32((key or "").encode()) % self.topics.input_partitions[stage]
        )
        if (stage, q) in self.states:
            self._local.setdefault((stage, q), []).append(records.parsed(record))
            return []
        return [Output(self.topics.inputs[stage], records.encode(record), key, partition=q)]

    def _state(self, stage: int, p: int) -> PartitionState:
        state = self.states.get((stage, p)) or self.restore(stage, p)  # a test may skip the assignment
        self._touched[(stage, p)] = state
        return state

    def _forward_labels(self, p: int, items: list[Envelope[Any]]) -> list[Output]:
        out = []
        for env in items:
            label = env.value
            self._newest[str(p)] = max(
                self._newest.get(str(p), float("-inf")), self._label_time(label).timestamp()
            )
            for i, feedback in enumerate(self._feedback):
                if feedback:
                    out += self._send(i, {"k": "f", "l": env.raw}, str(self._entity[i](label)))
        self.metrics.labels.inc(len(items))
        return out

    def _marks(self, sent: dict[str, int]) -> list[Output]:
        """A mark per owned labels and clean partition that moved since its last one (or never had one),
        to every partition of every later stage: how far this process has read it."""
        if len(self.engines) == 1 or self.offsets is None:
            return []
        sources = [(self.topics.inputs[0], "c", p) for s, p in sorted(self.states) if s == 0]
        if any(self._feedback):
            sources += [(self.topics.labels, "", p) for p in sorted(self.labels_owned)]
        out = []
        for topic, prefix, p in sources:
            key = f"{prefix}{p}"
            position = self.offsets.position(topic, p)
            if position is None:  # nothing read since the assignment: one mark, where the group resumes
                if key in self._sent:
                    continue
                position = self.offsets.start(topic, p)
            if self._sent.get(key) == position:
                continue
            sent[key] = position
            mark = {"k": "m", "p": key, "o": position, "t": self._newest.get(key)}
            for i in range(1, len(self.engines)):
                for q in range(self.topics.input_partitions[i]):
                    out += self._send(i, mark, None, q)
        return out

    def _records(self, stage: int, p: int, batch: list[dict[str, Any]]) -> None:
        """A later stage's records, in order: feedback applied, marks kept, events held (released by
        the gate once the inputs before them are in)."""
        state = self._state(stage, p)
        for record in batch:
            kind = record["k"]
            if kind == "f":
                if self._label is None:
                    raise ValueError(
                        "feedback for a use case without labels (its feedback is the next event)"
                    )
                label = record["l"]
                state.engine.labels(
                    [
                        self._label.model_validate_json(label)
                        if isinstance(label, bytes)
                        else self._label.model_validate(label)
                    ]
                )
            elif kind == "m":
                self.gate.mark(state.table, record)
            else:
                self.gate.hold(stage, p, state.table, record)

    def _release(self, stage: int, p: int) -> list[Output]:
        """The held events the gate lets go, computed."""
        state = self._state(stage, p)
        events = [records.carried(r, self._time_field) for r in self.gate.release(stage, p, state.table)]
        return self._compute(stage, state, events) if events else []

    def _compute(self, stage: int, state: PartitionState, events: list[tuple[Any, ...]]) -> list[Output]:
        """Featurize (event, stream partition, offset, carried record, key, fields: the clean event's JSON
        bytes or object) in order: online rows, then the next stage's records or the features events."""
        computed = state.engine.transactions([(tx, sp, offset) for tx, sp, offset, *_ in events])
        if stage == 0 and computed:
            key = f"c{events[0][1]}"
            newest = max(c.times[-1].timestamp() for c in computed)
            self._newest[key] = max(self._newest.get(key, newest), newest)
            if repeats := sum(c.repeat for c in computed):  # ingest re-sends after a restart
                self.metrics.duplicates.inc(repeats)
                kept = [(e, c) for e, c in zip(events, computed, strict=True) if not c.repeat]
                events, computed = [e for e, _ in kept], [c for _, c in kept]
        if not computed:
            return []
        written = self.sinks[stage].online(computed)
        last = stage == len(self.engines) - 1
        out = []
        for (tx, sp, offset, before, key, fields), c, at, back in zip(
            events, computed, written.online_at, written.read_back, strict=True
        ):
            carried = records.carry(before, c.times[0], tx.ingest_time, c.features, back)
            if not last:
                record = records.forwarded(fields, sp, offset, c.times[-1], carried, key)
                out += self._send(stage + 1, record, str(self._entity[stage + 1](tx)))
                continue
            self.metrics.freshness.observe(max(at - carried["i"], 0.0))
            out.append(
                Output(
                    self.topics.features, records.featurized(fields, at, self.feature_service, carried), key
                )
            )
        if last:
            self.metrics.transactions.inc(len(events))
        return out
