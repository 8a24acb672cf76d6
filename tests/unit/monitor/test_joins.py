"""Label join: a label days later meets its prediction, a label first waits for it, repeats join once,
and the state stays bounded by the event-time TTL and by its size."""

from __future__ import annotations

from services.monitor.joins import Joins, Scored

DAY = 86_400.0


def _p(tx: str, t: float, score: float = 0.5) -> Scored:
    return Scored(tx, "c1", t, score, "v1")


def test_a_label_days_later_meets_its_prediction_once() -> None:
    joins = Joins(ttl_s=10 * DAY)
    assert joins.prediction(_p("a", 0.0, 0.9)) is None
    joined = joins.label("a", True, 0.0)
    assert joined is not None and joined.target and joined.prediction.score == 0.9
    assert joins.label("a", True, 0.0) is None, "a repeated label joins once"
    assert joins.prediction(_p("a", 0.0)) is None, "a repeated prediction joins once"


def test_a_label_before_its_prediction_is_held() -> None:
    joins = Joins(ttl_s=10 * DAY)
    assert joins.label("b", False, 5.0) is None
    joined = joins.prediction(_p("b", 5.0, 0.1))
    assert joined is not None and not joined.target


def test_state_is_bounded_by_the_event_time_ttl() -> None:
    joins = Joins(ttl_s=8 * DAY)
    for i in range(100):  # one prediction per hour for ~4 days, every other one labelled
        joins.prediction(_p(f"t{i}", i * 3600.0))
        if i % 2:
            joins.label(f"t{i}", False, i * 3600.0)
    joins.label("orphan", True, 0.0)
    assert joins.expire() == 0 and len(joins) == 101
    joins.prediction(_p("late", 13 * DAY))  # the stream moved on 13 days
    assert joins.expire() == 50, "the unlabelled predictions older than 8 days are given up"
    assert len(joins) == 1 and joins.expired == 50


def test_a_flood_within_the_ttl_is_bounded_oldest_first() -> None:
    """10x the predictions the bound holds, all within the TTL (labels a week away): memory stays at the
    bound, the oldest leave first, and a prediction still held joins its label."""
    joins = Joins(ttl_s=10 * DAY, most=1000)
    for i in range(10_000):
        joins.prediction(_p(f"t{i}", float(i)))
        if i % 100 == 99:
            joins.expire()
            assert len(joins) <= 1000
    joins.label("early", True, 20_000.0)
    assert joins.expire() == 1 and len(joins) == 1000, "the label took the oldest prediction's place"
    assert joins.evicted == 9_001 and joins.expired == 0, "evicted by the bound, not by the TTL"
    assert "t9000" not in joins.waiting and joins.label("t9999", True, 9999.0) is not None
    assert joins.label("t0", True, 0.0) is None, "an evicted prediction's label waits (early) instead"
