"""Dead letters read, counted, selected and sent back to their source topic once (`rtloop dlq`)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import NewTopic

from services.common.config import KafkaSettings
from services.common.kafka.clients import make_admin, make_producer
from services.common.kafka.dlq import DLQ_HEADERS
from services.common.kafka.envelope import Headers
from services.common.kafka.scan import scan_topic

__all__ = ["REPLAYED_FROM", "DeadLetter", "Replay", "Selection", "counts", "read", "replay", "replayed"]

REPLAYED_FROM = "rtloop.replayed.from"  # on a replayed message: "<dlq topic>/<partition>/<offset>"


@dataclass(frozen=True)
class DeadLetter:
    """One message of the dead-letter topic, with what its headers say about where it came from."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: Headers

    def _header(self, name: str) -> str:
        return next((v.decode("utf-8", "replace") for k, v in self.headers if k == name), "?")

    @property
    def reason(self) -> str:
        return self._header("rtloop.error.reason")

    @property
    def message(self) -> str:
        return self._header("rtloop.error.message")

    @property
    def service(self) -> str:
        return self._header("rtloop.service")

    @property
    def source_topic(self) -> str:
        return self._header("rtloop.source.topic")

    @property
    def source(self) -> str:
        """`<topic>/<partition>/<offset>` of the message that failed: one dead letter per source is
        replayed, however many copies an at-least-once service wrote."""
        parts = ("rtloop.source.topic", "rtloop.source.partition", "rtloop.source.offset")
        return "/".join(self._header(h) for h in parts)

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @property
    def original_headers(self) -> Headers:
        """The headers the failed message had (the dead-letter and replay headers left out)."""
        dropped = {*DLQ_HEADERS, REPLAYED_FROM}
        return tuple((k, v) for k, v in self.headers if k not in dropped)


@dataclass(frozen=True)
class Selection:
    """Which dead letters: every given criterion must hold (none given: all of them)."""

    reasons: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None
    offsets: tuple[tuple[int, int, int], ...] = ()  # (partition, first, last), inclusive

    def __call__(self, letter: DeadLetter) -> bool:
        return (
            (not self.reasons or letter.reason in self.reasons)
            and (not self.services or letter.service in self.services)
            and (self.since is None or letter.at >= self.since)
            and (self.until is None or letter.at < self.until)
            and (
                not self.offsets
                or any(p == letter.partition and lo <= letter.offset <= hi for p, lo, hi in self.offsets)
            )
        )


def read(kafka: KafkaSettings, topic: str) -> Iterator[DeadLetter]:
    """Every dead letter of `topic`, partition by partition, in offset order."""
    for m in scan_topic(kafka, topic, idle_timeout_s=3):
        yield DeadLetter(
            m.partition(), m.offset(), m.timestamp()[1], m.key(), m.value() or b"", tuple(m.headers() or ())
        )


def counts(letters: Iterable[DeadLetter]) -> list[tuple[str, str, datetime, int]]:
    """(service, reason, hour, count), by service, reason and hour of arrival (UTC)."""
    tally = Counter((d.service, d.reason, d.at.replace(minute=0, second=0, microsecond=0)) for d in letters)
    return sorted((s, r, h, n) for (s, r, h), n in tally.items())


def _ledger(topic: str) -> str:
    return f"{topic}.replayed"


def replayed(kafka: KafkaSettings, topic: str) -> set[str]:
    """The sources already replayed from `topic` (its ledger, a compacted topic beside it)."""
    names = make_admin(kafka).list_topics(timeout=10).topics
    if _ledger(topic) not in names:
        return set()
    return {(m.key() or b"").decode() for m in scan_topic(kafka, _ledger(topic), idle_timeout_s=3)}


@dataclass
class Replay:
    """What a replay sent (per source topic), and what it left because it was already replayed."""

    sent: Counter[str] = field(default_factory=Counter)
    already: int = 0
    no_source: int = 0


def replay(kafka: KafkaSettings, topic: str, select: Selection, *, dry_run: bool = False) -> Replay:
    """Send the selected dead letters' original key, bytes and headers back to their source topic, each
    source once ever: the sources go to the ledger topic in the same Kafka transaction as the events,
    so a replay that fails sends nothing and a second one skips what the first sent."""
    done = replayed(kafka, topic)
    report, chosen = Replay(), dict[str, DeadLetter]()
    for letter in read(kafka, topic):
        if not select(letter):
            continue
        if letter.source_topic == "?":
            report.no_source += 1
        elif letter.source in done:
            report.already += 1
        else:
            chosen.setdefault(letter.source, letter)  # a copy of one already chosen: the first one goes
    for letter in chosen.values():
        report.sent[letter.source_topic] += 1
    if dry_run or not chosen:
        return report
    _ensure_ledger(kafka, topic)
    producer = make_producer(kafka, **{"transactional.id": f"rtloop-dlq-replay-{topic}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for source, letter in chosen.items():
        origin = f"{topic}/{letter.partition}/{letter.offset}".encode()
        headers: list[tuple[str, str | bytes | None]] = [*letter.original_headers, (REPLAYED_FROM, origin)]
        producer.produce(letter.source_topic, letter.value, letter.key, headers=headers)
        record = {"from": origin.decode(), "at": time.time()}
        producer.produce(_ledger(topic), orjson.dumps(record), source.encode())
    producer.commit_transaction(60)
    return report


def _ensure_ledger(kafka: KafkaSettings, topic: str) -> None:
    config = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
    admin = make_admin(kafka)
    replicas = len(
        next(iter(admin.list_topics(topic, timeout=10).topics[topic].partitions.values())).replicas
    )
    for future in admin.create_topics([NewTopic(_ledger(topic), 1, replicas, config=config)]).values():
        try:
            future.result(30)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
