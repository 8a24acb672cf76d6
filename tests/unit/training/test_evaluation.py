"""The handbook's protocol: known-compromised cards, Card Precision@k, and the gate."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from services.common.evaluation import BUILT_IN, Evaluation, Metrics, evaluate
from services.training.candidates import decision_threshold
from services.training.job import Judging, Outcome, choose, holdout
from usecases.fraud.evaluation import METRICS, book_test_set, card_precision_at_k


def _frame(rows: list[tuple[str, str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["key", "event_time", "target", "score"]).assign(
        event_time=lambda f: pd.to_datetime(f["event_time"], utc=True)
    )


def test_card_precision_takes_the_max_per_card_and_drops_cards_found_earlier() -> None:
    day1 = [
        ("a", "2018-08-08T01:00Z", 1, 0.9),
        ("a", "2018-08-08T02:00Z", 0, 0.1),
        ("b", "2018-08-08T03:00Z", 0, 0.8),
    ]
    day1 += [("c", "2018-08-08T04:00Z", 1, 0.2)]
    day2 = [
        ("a", "2018-08-09T01:00Z", 1, 0.99),
        ("c", "2018-08-09T02:00Z", 1, 0.5),
        ("b", "2018-08-09T03:00Z", 1, 0.95),  # compromised on day 2: b's legitimate day 1 keeps it in
        ("d", "2018-08-09T04:00Z", 0, 0.3),
    ]
    frame = _frame(day1 + day2)
    # day 1, k=2: a (max .9, fraud) and b (.8) → 1/2; only a is detected (b was in the top k, not a
    # fraud). Day 2 without a: b (.95, fraud), c (.5, fraud) → 2/2
    assert card_precision_at_k(frame, k=2) == pytest.approx(0.75)
    # k=1: day 1 a → 1; day 2 without a: b → 1
    assert card_precision_at_k(frame, k=1) == pytest.approx(1.0)
    # k=3: day 1 a, b, c (.2, fraud) → 2/3, a and c detected; day 2 b, d → 1/3
    assert card_precision_at_k(frame, k=3) == pytest.approx((2 / 3 + 1 / 3) / 2)


def test_known_compromised_cards_leave_the_test_set_day_by_day() -> None:
    known = _frame(
        [
            ("x", "2018-07-26T10:00Z", 1, 0),  # fraud in the training week: gone from every test day
            ("y", "2018-08-01T10:00Z", 1, 0),  # fraud on Aug 1 = t − 8 for t = Aug 9: gone from Aug 9 on
            ("z", "2018-08-05T10:00Z", 1, 0),  # known only from Aug 13
        ]
    ).drop(columns="score")
    test = _frame([(c, f"2018-08-{d:02d}T12:00Z", 0, 0.0) for c in "xyzw" for d in (8, 9, 13)])
    kept = book_test_set(test, known, date(2018, 7, 25), date(2018, 8, 1))
    got = {(r.key, r.event_time.day) for r in kept.itertuples()}
    assert got == {("y", 8), ("z", 8), ("z", 9), ("w", 8), ("w", 9), ("w", 13)}


def test_the_known_cards_boundaries_first_and_last_training_day_and_the_delay() -> None:
    """Training [Jul 25, Aug 1), the default delay of 7 days: a fraud on Jul 25 (the first training
    day) or Jul 31 (the last) is known on every test day; one on Jul 24 (before training) never; one on
    Aug 2 from Aug 10 (t − 8) on, not on Aug 9."""
    known = _frame(
        [
            ("first", "2018-07-25T00:00Z", 1, 0),
            ("last", "2018-07-31T23:59Z", 1, 0),
            ("before", "2018-07-24T23:59Z", 1, 0),
            ("later", "2018-08-02T00:00Z", 1, 0),
            ("honest", "2018-07-26T10:00Z", 0, 0),  # not a fraud: never dropped
        ]
    ).drop(columns="score")
    cards = ("first", "last", "before", "later", "honest")
    test = _frame([(c, f"2018-08-{d:02d}T12:00Z", 0, 0.0) for c in cards for d in (1, 9, 10)])
    kept = book_test_set(test, known, date(2018, 7, 25), date(2018, 8, 1))
    assert list(kept.columns) == list(test.columns) and list(kept.index) == list(range(len(kept)))
    got = {(r.key, r.event_time.day) for r in kept.itertuples()}
    assert got == {("before", 1), ("before", 9), ("before", 10), ("later", 1), ("later", 9)} | {
        ("honest", d) for d in (1, 9, 10)
    }


def test_metrics_of_a_perfect_and_a_useless_ranking() -> None:
    rows = [(f"c{i}", "2018-08-08T10:00Z", int(i < 5), 1.0 - i / 100) for i in range(50)]
    perfect = evaluate(_frame(rows), BUILT_IN | METRICS)
    assert perfect["auc_roc"] == 1.0 and perfect["average_precision"] == 1.0
    assert perfect["card_precision_at_100"] == pytest.approx(5 / 100)
    assert (perfect.events, perfect.positives) == (50, 5)
    flipped = evaluate(_frame([(c, t, y, 1 - s) for c, t, y, s in rows]))
    assert flipped["auc_roc"] == 0.0 and "card_precision_at_100" not in flipped.values


def _outcome(kind: str, ap: float) -> Outcome:
    from services.common.contracts import ModelVersionV1

    version = ModelVersionV1(
        name="fraud",
        version=kind,
        uri="/m.onnx",
        sha256="0" * 64,
        features=["x"],
        threshold=0.5,
        stage="candidate",
        created_at="2018-08-15T00:00:00Z",
    )
    return Outcome(
        kind, kind, metrics=Metrics({"auc_roc": 0.8, "average_precision": ap}, 100, 5), version=version
    )


def test_the_gate_promotes_only_past_the_margin_on_the_same_rows() -> None:
    judging = Judging(Evaluation(), "average_precision", margin=0.01)
    candidates = [_outcome("logreg", 0.60), _outcome("lgbm", 0.68)]
    best, why = choose(candidates, None, judging)
    assert best is not None and best.kind == "lgbm" and "no usable production" in why
    best, why = choose(candidates, _outcome("prod", 0.65), judging)
    assert best is not None and best.kind == "lgbm" and "+ margin 0.01" in why
    best, why = choose(candidates, _outcome("prod", 0.675), judging)
    assert best is None and "not above production 0.6750 + margin 0.01" in why
    best, why = choose([_outcome("same", 0.6473)], _outcome("prod", 0.6473), Judging(Evaluation()))
    assert best is None, "a model as good as production (the same one, say) is never promoted"
    failed = Outcome("mlp", "mlp", error="parity")
    best, _ = choose([failed], None, judging)
    assert best is None


def test_without_an_evaluation_only_a_first_model_is_promoted() -> None:
    unevaluated = _outcome("logreg", 0.6)
    unevaluated.metrics = None
    best, why = choose([unevaluated], None, Judging(Evaluation()))
    assert best is unevaluated and "no production model" in why
    best, why = choose([unevaluated], _outcome("prod", 0.5), Judging(Evaluation()))
    assert best is None and "promotes by hand" in why


def test_the_holdout_is_the_newest_share_and_never_splits_a_second() -> None:
    times = pd.to_datetime([f"2018-08-0{d}T00:00:0{s}Z" for d in range(1, 6) for s in (0, 0)], utc=True)
    frame = pd.DataFrame({"event_time": times, "target": [0, 1] * 5})
    train, test, split = holdout(frame, 0.3)
    assert (len(train), len(test)) == (6, 4) and split == datetime(2018, 8, 4, tzinfo=UTC)
    assert train["event_time"].max() < test["event_time"].min()


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # a card's day is its highest score and whether any of its rows is a fraud: b (.9, fraud) tops
        ([("a", "2018-08-08T01:00Z", 0, 0.5), ("b", "08T02", 0, 0.9), ("b", "08T03", 1, 0.1)], 1.0),
        # a tie in score goes to the smaller card id, whatever the row order: b (legitimate) over c
        ([("c", "08T01", 1, 0.9), ("b", "08T02", 0, 0.9)], 0.0),
        # days in time order, whatever the row order: x is found on the 8th, y is the 9th's top
        ([("x", "09T01", 1, 0.9), ("y", "09T02", 1, 0.5), ("x", "08T01", 1, 0.8)], 1.0),
    ],
)
def test_card_precision_at_1_per_card_day_ties_and_day_order(
    rows: list[tuple[str, str, int, float]], expected: float
) -> None:
    full = [(k, t if t.startswith("2018") else f"2018-08-{t[:2]}{t[2:]}:00Z", y, s) for k, t, y, s in rows]
    assert card_precision_at_k(_frame(full), k=1) == expected


def test_metrics_of_an_empty_or_one_class_test_set_are_nan_with_the_counts() -> None:
    one_class = _frame([(f"c{i}", "2018-08-08T10:00Z", 0, i / 10) for i in range(5)])
    got = evaluate(one_class, BUILT_IN | METRICS)
    assert pd.isna(got["auc_roc"]) and pd.isna(got["average_precision"])
    assert got["card_precision_at_100"] == 0.0 and (got.events, got.positives) == (5, 0)
    empty = evaluate(one_class.iloc[:0], BUILT_IN | METRICS)
    assert all(math.isnan(v) for v in empty.values.values()) and set(empty.values) == set(BUILT_IN | METRICS)
    assert (empty.events, empty.positives) == (0, 0)
    assert got.as_dict() == {**got.values, "test_events": 5.0, "test_positives": 0.0}
    assert (
        evaluate(_frame([("a", "2018-08-08T10:00Z", 1, 0.3), ("b", "2018-08-08T11:00Z", 0, 0.1)])).positives
        == 1
    )


@pytest.mark.parametrize(
    ("y", "scores", "expected"),
    [
        # F1 at 0.35: 2 of 2 frauds, 1 false alarm (0.8); at 0.7: 1 of 2, none (0.667); at 0.8: 2/3
        ([0, 1, 0, 1, 0], [0.1, 0.35, 0.2, 0.7, 0.3], 0.35),
        ([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 0.8),  # separable: the lowest fraud score
        ([0, 0, 1, 1], [0.0, 0.0, 1.0, 1.0], 1 - 1e-6),  # kept inside the open interval (0, 1)
        # F1 0.75 at 0.6 (3 of 4 frauds, 1 false alarm), 0.727 at 0.2 (4 of 4, 3): where P·R·(P+R),
        # P·R / (P − R) or P·R / (P · R) would pick 0.2 or 0.9
        ([1, 0, 0, 0, 1, 1, 1, 0], [0.6, 0.1, 0.7, 0.3, 0.2, 0.9, 0.6, 0.5], 0.6),
        # F1 0.4 at 0.7 (P 1/3, R 1/2) against 0.33 at 0 (P 0.2, R 1): where P + R < 1 matters
        ([0, 0, 0, 1, 0, 0, 1, 0, 0, 0], [0.4, 0.1, 0.1, 0.7, 0.9, 0.8, 0.0, 0.0, 0.5, 0.6], 0.7),
    ],
)
def test_the_decision_threshold_is_the_score_with_the_best_f1(
    y: list[int], scores: list[float], expected: float
) -> None:
    got = decision_threshold(np.array(y), np.array(scores, dtype=np.float64))
    assert got == pytest.approx(expected)
    flagged = np.array(scores) >= got
    assert flagged[np.array(y) == 1].any(), "the threshold flags the frauds it was chosen on"


def test_the_decision_threshold_stays_above_0_when_the_best_is_0() -> None:
    """One distinct score, 0: the best F1 flags everything; the threshold stays inside (0, 1), so a model
    that scores exactly 0 never flags."""
    assert decision_threshold(np.array([1, 0, 1]), np.zeros(3)) == 1e-6


def test_card_precision_ties_go_to_the_smaller_card_id_among_many() -> None:
    """40 cards tied at one score (enough for an unstable sort to reorder them), the frauds the 10 with
    the smallest ids: all 10 are the top 10."""
    rows = [(f"c{i:02d}", "2018-08-08T01:00Z", int(i < 10), 0.5) for i in reversed(range(40))]
    assert card_precision_at_k(_frame(rows), k=10) == 1.0


def test_card_precision_breaks_ties_by_card_id_when_k_cuts_through_them() -> None:
    """60 cards, 18 at 0.9 and the rest tied at 0.5; k takes the 18 and 5 of the tied ones: the 5 with the
    smallest ids, the frauds. numpy's default sort keeps an all-tied array in order but not this one."""
    scores = np.where(np.random.default_rng(7).random(60) < 0.3, 0.9, 0.5)
    tied = [i for i in range(60) if scores[i] == 0.5]
    frauds = set(tied[:5])
    rows = [(f"c{i:02d}", "2018-08-08T01:00Z", int(i in frauds), float(scores[i])) for i in range(60)]
    k = int((scores == 0.9).sum()) + 5
    assert card_precision_at_k(_frame(rows), k=k) == pytest.approx(5 / k)


def test_card_precision_reads_naive_times_as_utc_and_is_nan_without_rows() -> None:
    aware = _frame([("a", "2018-08-08T23:30Z", 1, 0.9), ("b", "2018-08-09T00:30Z", 1, 0.8)])
    naive = aware.assign(event_time=aware["event_time"].dt.tz_localize(None).astype(str))
    assert card_precision_at_k(naive, k=1) == card_precision_at_k(aware, k=1) == 1.0
    # a fraud at 23:30 UTC on Aug 8 and an honest card at 00:30 UTC on Aug 9, written at +02:00 (both on
    # Aug 9 there): two UTC days, 1 and 0; read as local days it would be one day, and 1
    offset = aware.assign(event_time=["2018-08-09T01:30+02:00", "2018-08-09T02:30+02:00"], target=[1, 0])
    assert card_precision_at_k(offset, k=1) == 0.5
    assert card_precision_at_k(aware.assign(target=[1, 0]), k=1) == 0.5
    assert pd.isna(card_precision_at_k(aware.iloc[:0]))


def test_the_decision_threshold_equals_a_brute_force_search_over_every_score() -> None:
    """On 300 random rows: the lowest score with the best F1 of `score >= threshold`."""
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.2).astype(int)
    scores = np.round(np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0.01, 0.99), 2)
    candidates = np.unique(scores)
    f1 = [f1_score(y, scores >= t) for t in candidates]
    assert decision_threshold(y, scores) == pytest.approx(candidates[int(np.argmax(f1))])


def test_the_built_in_metrics_of_a_one_class_set_are_nan_not_an_error() -> None:
    from services.common.evaluation import auc_roc, average_precision

    one_class = _frame([("a", "2018-08-08T10:00Z", 0, 0.2), ("b", "2018-08-08T11:00Z", 0, 0.7)])
    assert math.isnan(auc_roc(one_class)) and math.isnan(average_precision(one_class))
