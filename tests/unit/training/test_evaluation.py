"""The handbook's protocol: known-compromised cards, Card Precision@k, and the gate."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from services.common.evaluation import BUILT_IN, Evaluation, Metrics, evaluate
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
