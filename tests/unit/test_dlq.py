"""Dead letters as `rtloop dlq` reads them: what their headers say, counts by hour, and the selection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.common.errors import PermanentError
from services.common.kafka.dlq import dead_letter
from services.tools.ops.dlq import REPLAYED_FROM, DeadLetter, Selection, counts

T0 = datetime(2026, 12, 3, 10, 15, tzinfo=UTC)


class Rejected(PermanentError):
    reason = "amount_too_large"


def _letter(
    offset: int, at: datetime, reason: str = "amount_too_large", service: str = "ingest"
) -> DeadLetter:
    error = Rejected("amount: not under 100") if reason == "amount_too_large" else ValueError("boom")
    out = dead_letter(
        dlq_topic="dlq",
        service=service,
        error=error,
        topic="raw",
        partition=2,
        offset=40 + offset,
        key=b"k",
        value=b'{"amount": 500}',
        headers=(("trace", b"t1"), (REPLAYED_FROM, b"dlq/0/1")),
    )
    return DeadLetter(0, offset, int(at.timestamp() * 1000), out.key, out.value, out.headers)


def test_a_dead_letter_says_why_where_from_and_keeps_the_original_headers() -> None:
    letter = _letter(3, T0)
    assert (letter.reason, letter.service, letter.source_topic, letter.source) == (
        "amount_too_large",
        "ingest",
        "raw",
        "raw/2/43",
    )
    assert letter.message == "amount: not under 100"
    assert letter.original_headers == (("trace", b"t1"),), "dead-letter and replay headers left out"
    assert _letter(0, T0, reason="other").reason == "handler_error"


def test_counts_are_by_service_reason_and_hour() -> None:
    letters = [
        _letter(0, T0),
        _letter(1, T0 + timedelta(minutes=40)),  # 10:55: the same hour
        _letter(2, T0 + timedelta(minutes=50)),  # 11:05: the next
        _letter(3, T0, reason="other"),
        _letter(4, T0, service="features"),
    ]
    ten, eleven = T0.replace(minute=0), T0.replace(hour=11, minute=0)
    assert counts(letters) == [
        ("features", "amount_too_large", ten, 1),
        ("ingest", "amount_too_large", ten, 2),
        ("ingest", "amount_too_large", eleven, 1),
        ("ingest", "handler_error", ten, 1),
    ]


def test_a_selection_needs_every_criterion_it_names() -> None:
    a, b, c = _letter(5, T0), _letter(6, T0 + timedelta(hours=2), reason="other"), _letter(9, T0, service="x")
    assert [Selection()(d) for d in (a, b, c)] == [True, True, True]
    assert [Selection(reasons=frozenset({"handler_error"}))(d) for d in (a, b, c)] == [False, True, False]
    assert [Selection(services=frozenset({"ingest"}))(d) for d in (a, b, c)] == [True, True, False]
    since = Selection(since=T0 + timedelta(hours=1))
    until = Selection(until=T0 + timedelta(hours=1))
    assert [since(d) for d in (a, b, c)] == [False, True, False]
    assert [until(d) for d in (a, b, c)] == [True, False, True]
    assert [Selection(offsets=((0, 6, 9),))(d) for d in (a, b, c)] == [False, True, True]
    assert [Selection(offsets=((1, 0, 99),))(d) for d in (a, b, c)] == [False, False, False]
    both = Selection(reasons=frozenset({"amount_too_large"}), offsets=((0, 5, 6),))
    assert [both(d) for d in (a, b, c)] == [True, False, False]
