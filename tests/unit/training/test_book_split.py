"""The book's split on the full simulation: the training week and the filtered test week it publishes."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from usecases.fraud.evaluation import book_test_set
from usecases.fraud.simulator import SimulationConfig, simulate

pytestmark = pytest.mark.slow


def test_training_week_and_test_set_match_the_handbook() -> None:
    table = simulate(SimulationConfig()).select(["customer_id", "tx_datetime", "tx_fraud"]).to_pandas()
    frame = pd.DataFrame(
        {
            "key": table["customer_id"].astype(str),
            "event_time": pd.to_datetime(table["tx_datetime"], utc=True),
            "target": table["tx_fraud"].astype(bool),
        }
    )
    day = frame["event_time"].dt.date
    train = frame[(day >= date(2018, 7, 25)) & (day <= date(2018, 7, 31))]
    assert (len(train), int(train["target"].sum())) == (67_240, 598)
    test = frame[(day >= date(2018, 8, 8)) & (day <= date(2018, 8, 14))]
    known = frame[(day >= date(2018, 7, 25)) & (day <= date(2018, 8, 14))]
    kept = book_test_set(test.reset_index(drop=True), known, date(2018, 7, 25), date(2018, 8, 1))
    assert (len(kept), int(kept["target"].sum())) == (58_264, 385)
