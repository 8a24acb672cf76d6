"""The batched lookup: the event's own rows win over a later transaction's rows online."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import pytest

from services.common.feast_online import OnlineReader
from services.common.feature_services import ViewSpec
from services.scorer.adapters.lookup import OnlineLookup
from services.scorer.transforms import ScoreRequest, featurized_parser, request_fields
from usecases.fraud import FRAUD, FRAUD_V1

CUSTOMER, TERMINAL = FRAUD_V1.views
parse_featurized = featurized_parser(request_fields(FRAUD))


class DictReader(OnlineReader):
    """Rows per (view, id) in memory: what the online store holds now."""

    def __init__(self, rows: dict[tuple[str, str], dict[str, float | None]]) -> None:
        super().__init__("test")
        self.rows = rows

    def read(self, view: ViewSpec, ids: Sequence[str]) -> list[dict[str, float | None] | None]:
        return [self.rows.get((view.name, i)) for i in ids]

    def _raw(self, view: ViewSpec, names: Sequence[str], ids: Sequence[str]) -> list[dict[str, bytes] | None]:
        raise AssertionError("the fraud scorer reads no lists")

    def close(self) -> None:
        pass


def _row(view: ViewSpec, base: float) -> dict[str, float]:
    return {f: base + i for i, f in enumerate(view.features)}


def _event(tx: str, customer: str, carried: dict[str, object] | None, field: str = "features") -> bytes:
    doc = {
        "tx_id": tx,
        "customer_id": customer,
        "terminal_id": "t1",
        "event_time": "2018-08-08T10:00:00+00:00",
    }
    return orjson.dumps(doc | ({field: carried} if carried is not None else {}))


@pytest.fixture
def lookup() -> OnlineLookup:
    # c1's row online is already its second transaction's (base 200); t1's row is the terminal's now
    rows: dict[tuple[str, str], dict[str, float | None]] = {
        (CUSTOMER.name, "c1"): dict(_row(CUSTOMER, 200.0)),
        (TERMINAL.name, "t1"): dict(_row(TERMINAL, 500.0)),
    }
    return OnlineLookup(DictReader(rows), FRAUD_V1)


def test_a_later_transactions_row_online_is_replaced_by_the_events_own(lookup: OnlineLookup) -> None:
    first = parse_featurized(_event("tx1", "c1", _row(CUSTOMER, 100.0)))
    second = parse_featurized(_event("tx2", "c1", _row(CUSTOMER, 200.0)))
    batch = lookup.batch([first, second])
    k = len(CUSTOMER.features)
    assert batch.x[0, :k].tolist() == list(_row(CUSTOMER, 100.0).values())  # its own, not tx2's
    assert batch.x[1, :k].tolist() == list(_row(CUSTOMER, 200.0).values())
    assert batch.x[0, k:].tolist() == batch.x[1, k:].tolist() == list(_row(TERMINAL, 500.0).values())
    assert batch.replaced == 1 and not batch.missing.any()


def test_the_online_row_serves_an_event_that_carries_nothing_usable(lookup: OnlineLookup) -> None:
    partial = {f: 1.0 for f in CUSTOMER.features[:-1]}  # one input short: the view is not covered
    bad = {f: "1" for f in CUSTOMER.features}  # not numbers: ignored
    requests = [
        parse_featurized(_event("tx3", "c1", None)),
        parse_featurized(_event("tx4", "c1", partial)),
        parse_featurized(_event("tx5", "c1", bad)),
    ]
    batch = lookup.batch(requests)
    k = len(CUSTOMER.features)
    for row in batch.x:
        assert row[:k].tolist() == list(_row(CUSTOMER, 200.0).values())
    assert batch.replaced == 0


def test_carried_values_fill_a_customer_the_store_does_not_hold_yet(lookup: OnlineLookup) -> None:
    """A row missing online (a new customer, an expired key) is not imputed when the event carries it."""
    request = ScoreRequest("tx6", ("c9", "t1"), "2018-08-08T10:00:00+00:00", carried=_row(CUSTOMER, 7.0))
    batch = lookup.batch([request])
    assert batch.x[0, 0] == 7.0 and not batch.missing[0] and batch.replaced == 0


def test_an_event_carrying_every_views_rows_is_served_point_in_time(lookup: OnlineLookup) -> None:
    """Terminal rows move on too (a later transaction at t1, a late label): the carried rows serve."""
    own = _row(CUSTOMER, 100.0) | _row(TERMINAL, 300.0)
    both = parse_featurized(_event("tx7", "c1", own))
    # a v1 event of a features service before `features` is still scored, from the online rows
    old = parse_featurized(_event("tx8", "c1", _row(CUSTOMER, 100.0), field="customer_features"))
    batch = lookup.batch([both, old])
    assert batch.x[0].tolist() == [own[f] for f in FRAUD_V1.feature_names]
    k = len(CUSTOMER.features)
    assert batch.x[1, :k].tolist() == list(_row(CUSTOMER, 200.0).values())
    assert batch.x[1, k:].tolist() == list(_row(TERMINAL, 500.0).values())
    assert batch.replaced == 1
