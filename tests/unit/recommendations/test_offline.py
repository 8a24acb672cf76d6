"""The recommender offline: each request's user inputs point in time, the catalog's tables, and a fitted
recommender's lists on streams small enough to follow by hand."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest

from services.training.recommender import rank_in
from services.training.retrieval import CANDIDATE_FEATURES
from usecases.recommendations.evaluation import requests
from usecases.recommendations.offline import Catalog, fit, recommend, user_inputs

ITEMS = pd.DataFrame(
    {
        "item": [10, 20, 30, 40, 50],
        "genres": [["Drama"], ["Drama"], ["Drama", "War"], ["War"], ["Comedy"]],
        "year": pd.array([1995, 1980, None, 1990, 2000], dtype="Int64"),
    }
)
CATALOG = Catalog.of(ITEMS)


def stream(*rows: tuple[str, int]) -> pd.DataFrame:
    times = pd.Timestamp("1998-01-01", tz="UTC") + pd.to_timedelta(np.arange(len(rows)), unit="h")
    return pd.DataFrame({"user": [int(u[1:]) for u, _ in rows], "item": [i for _, i in rows], "time": times})


def test_a_requests_inputs_are_the_users_items_up_to_and_including_its_own() -> None:
    frame = stream(*[("u1", i) for i in (10, 20, 30, 40, 50, 10)], ("u2", 30), ("u1", 20))
    [batch] = user_inputs(frame, [1, 5, 6, 7])
    assert batch.at.tolist() == [1, 5, 6, 7]
    assert batch.recent.tolist() == [
        ["", "", "", "10", "20"],  # newest last, "" before
        ["20", "30", "40", "50", "10"],  # the last five, a repeat kept
        ["", "", "", "", "30"],
        ["30", "40", "50", "10", "20"],
    ]
    assert batch.seen[1].tolist() == ["", "10", "20", "30", "40", "50", "10"]  # "" before
    assert batch.seen[2].tolist() == [""] * 6 + ["30"]
    assert [len(b.at) for b in user_inputs(frame, range(8), size=3)] == [3, 3, 2]


def test_the_catalogs_tables_hold_its_genres_and_years() -> None:
    tables = CATALOG.tables(stream(("u1", 10), ("u1", 30), ("u2", 30)))
    assert tables.ids == ("10", "20", "30", "40", "50")
    assert tables.attributes[2].tolist() == [0.0, 0.5, 0.5]  # Comedy, Drama, War
    assert tables.numbers[:, 0].tolist() == [0.5, -1.0, 0.0, 0.0, 1.0]  # an unknown year is 1990
    assert tables.adjacent[0, 2] == tables.adjacent[2, 0] == 1.0
    assert tables.features[-1] == "number_0" and len(tables.features) == len(CANDIDATE_FEATURES) + 1


def test_a_fitted_recommender_follows_co_visitation_and_leaves_seen_items_out() -> None:
    # many users go 10 → 20 → 30, a few 10 → 40: after 10 the next is most often 20
    rows = []
    for u in range(30):
        rows += [(f"u{u}", 10), (f"u{u}", 20 if u % 5 else 40), (f"u{u}", 30)]
    frame = stream(*rows)
    wanted = requests(frame)
    fitted = fit(
        frame, CATALOG, user_inputs(frame, [r.at for r in wanted]), {r.at: r.truth for r in wanted}, n=5, k=3
    )
    session = ort.InferenceSession(fitted.onnx, providers=["CPUExecutionProvider"])
    fresh = stream(("u900", 10), ("u901", 10), ("u901", 20), ("u902", 10), ("u902", 20), ("u902", 30))
    [batch] = user_inputs(fresh, [0, 2, 5])
    first, second, third = recommend(session, batch)
    assert first[0] == "20" and "10" not in first  # after 10: 20; 10 itself is seen
    assert second[0] == "30" and not {"10", "20"} & set(second)
    assert set(third) == {"40", "50"}  # only two unseen items: fewer than k
    assert rank_in("20", first) == 1.0 and rank_in("10", first) == float("inf")


def test_an_interaction_with_an_item_the_catalog_lacks_is_refused() -> None:
    with pytest.raises(ValueError, match="not in the catalog"):
        CATALOG.tables(stream(("u1", 10), ("u1", 99)))
