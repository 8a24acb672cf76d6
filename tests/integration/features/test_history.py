"""Training sets through Feast's point-in-time join: no transaction silently disappears."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from services.common.feast.history import training_set
from services.common.feast.repo import apply
from services.features.config import FeaturesSettings
from services.features.handlers import Computed, view_rows
from tests.factories import declare
from usecases.fraud import FEATURE_NAMES, FRAUD, FRAUD_V1

pytestmark = pytest.mark.integration

T0 = datetime(2018, 5, 1, 12, tzinfo=UTC)


def _transactions(rows: list[tuple[str, str, str, datetime, int]]) -> pa.Table:
    return pa.table(
        {
            "tx_id": [r[0] for r in rows],
            "customer_id": [r[1] for r in rows],
            "terminal_id": [r[2] for r in rows],
            "event_time": pa.array([r[3] for r in rows], pa.timestamp("us", tz="UTC")),
            "kafka_partition": pa.array([0] * len(rows), pa.int32()),
            "kafka_offset": pa.array([r[4] for r in rows], pa.int64()),
        }
    )


def _computed(
    tx_id: str, customer: str, terminal: str, when: datetime, offset: int, value: float
) -> Computed:
    features = dict.fromkeys(FEATURE_NAMES, value)
    return Computed(tx_id, 0, offset, features, (customer, terminal), (when, when))


def test_every_transaction_in_the_window_comes_back(tmp_path: Path) -> None:
    settings = FeaturesSettings(lake_root=tmp_path / "lake", feast_data=tmp_path / "feast")
    txs = [
        ("a", "c1", "t1", T0, 0),
        ("b", "c1", "t2", T0, 1),  # same customer, same second: its row is stamped +1 µs
        ("c", "c2", "t1", T0 + timedelta(hours=1), 2),
        ("lost", "c9", "t9", T0 + timedelta(hours=2), 3),  # no feature row at all
        ("outside", "c1", "t1", T0 + timedelta(days=3), 4),  # after the window
    ]
    write_deltalake(str(settings.events_table), _transactions(txs))
    computed = [
        _computed("a", "c1", "t1", T0, 0, 1.0),
        _computed("b", "c1", "t2", T0 + timedelta(microseconds=1), 1, 2.0),
        _computed("c", "c2", "t1", T0 + timedelta(hours=1), 2, 3.0),
    ]
    for i, (view, table) in enumerate(
        zip(FRAUD_V1.views, map(settings.view_table, FRAUD.features.views), strict=True)
    ):
        write_deltalake(str(table), view_rows(computed, i, view, "tx_id"))

    result = training_set(apply(settings), settings, T0 - timedelta(days=1), T0 + timedelta(days=1))

    frame = result.frame.set_index("tx_id")
    assert result.transactions == 4 and len(frame) == 4  # "outside" is outside; "lost" is kept
    assert result.missing == 1
    assert not frame.loc["lost", "features_complete"]
    assert frame.loc["lost", FEATURE_NAMES].isna().all()
    assert frame.loc["a", "CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 1.0  # its own row, not b's
    assert frame.loc["b", "CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 2.0
    assert frame.loc["c", "TX_AMOUNT"] == 3.0
    assert frame.loc["c", "TERMINAL_ID_RISK_1DAY_WINDOW"] == 3.0


def test_lists_come_back_point_in_time_beside_the_numbers(tmp_path: Path) -> None:
    """A view with a `last` aggregation: its offline rows hold lists of text, and the training set gives
    each event the lists of its own row."""

    def with_lists(doc: dict[str, Any]) -> None:
        doc["features"]["views"][0]["aggregations"].append(
            {"function": "last", "column": "terminal_id", "n": 2, "name": "LAST_TERMINALS_{days}D"}
        )

    settings = FeaturesSettings(
        lake_root=tmp_path / "lake", feast_data=tmp_path / "feast", usecase=declare(tmp_path, with_lists)
    )
    declared = settings.declaration
    specs = declared.feature_service.views
    txs = [("a", "c1", "t1", T0, 0), ("b", "c1", "t2", T0 + timedelta(hours=1), 1)]
    write_deltalake(str(settings.events_table), _transactions(txs))
    names = declared.feature_service.feature_names
    lists = [["t1"], ["t1", "t2"]]
    computed = [
        Computed(
            tx,
            0,
            offset,
            {**dict.fromkeys(names, 1.0), **dict.fromkeys(specs[0].lists, last)},
            (c, t),
            (when, when),
        )
        for (tx, c, t, when, offset), last in zip(txs, lists, strict=True)
    ]
    for i, (view, table) in enumerate(
        zip(specs, map(settings.view_table, declared.features.views), strict=True)
    ):
        write_deltalake(str(table), view_rows(computed, i, view, "tx_id"))

    frame = training_set(apply(settings), settings, T0, T0 + timedelta(days=1)).frame.set_index("tx_id")

    assert [list(frame.loc[tx, "LAST_TERMINALS_7D"]) for tx in ("a", "b")] == lists
    assert frame["features_complete"].all()
