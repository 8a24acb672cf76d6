"""Feature view specs: what a declaration may say, how hour windows are named and reach, JSON round trips."""

from __future__ import annotations

import pytest

from services.common.usecase.views import DAY_S, HOUR_S, Aggregation, FeatureView
from tests.unit.features.test_window_properties import AGGREGATIONS, HOURLY, T0, Op, brute_force, streaming


@pytest.mark.parametrize(
    ("windows", "aggregations", "error"),
    [
        ((1, 1), AGGREGATIONS[:1], "distinct"),
        ((0,), AGGREGATIONS[:1], "positive"),
        ((1, 7), (Aggregation(function="count", name="n"),), "repeat"),
        ((), AGGREGATIONS[:1], "one of them"),
    ],
)
def test_a_view_spec_that_cannot_work_is_refused(
    windows: tuple[int, ...], aggregations: tuple[Aggregation, ...], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        FeatureView(name="v", entity="e", windows_days=windows, aggregations=aggregations)


def test_an_hour_view_names_its_windows_in_hours_and_reaches_back_that_far() -> None:
    view = FeatureView(name="v", entity="e", windows_hours=(1, 24), aggregations=HOURLY[:1], delay_days=1)
    assert view.feature_names == ["n1", "n24"] and view.reach_s == 24 * HOUR_S + DAY_S
    ops = [Op("a", "a", T0, 1.0), Op("b", "a", T0 + HOUR_S + 1, 1.0), Op("c", "a", T0 + 2 * HOUR_S, 1.0)]
    assert brute_force(view.model_copy(update={"delay_days": 0}), ops, 2) == {"n1": 2.0, "n24": 3.0}
    with pytest.raises(ValueError, match=r"name the window length \{hours\}"):
        FeatureView(name="v", entity="e", windows_hours=(1, 24), aggregations=AGGREGATIONS[:1])
    with pytest.raises(ValueError, match="one of them"):
        FeatureView(name="v", entity="e", windows_days=(1,), windows_hours=(1,), aggregations=HOURLY[:1])


def test_sums_and_means_need_a_column_and_shares_and_since_last_take_none() -> None:
    with pytest.raises(ValueError, match="needs a column"):
        Aggregation(function="mean", name="m")
    for function in ("share", "since_last", "count"):
        with pytest.raises(ValueError, match="takes no column"):
            Aggregation(function=function, column="v", name="s")  # type: ignore[arg-type]


def test_last_needs_a_column_and_n_and_gives_a_list_not_a_model_input() -> None:
    with pytest.raises(ValueError, match="needs a column"):
        Aggregation(function="last", n=5, name="l")
    with pytest.raises(ValueError, match="last needs n"):
        Aggregation(function="last", column="item", name="l")
    with pytest.raises(ValueError, match="only last takes n"):
        Aggregation(function="distinct", column="item", n=5, name="l")
    view = FeatureView(name="v", entity="e", windows_days=(1, 7), aggregations=AGGREGATIONS)
    assert view.list_names == ["last1", "last7"] and not set(view.list_names) & set(view.feature_names)
    assert view.key_columns == ("k",)  # distinct and last keep the one field once


def test_an_aggregation_over_one_window_is_computed_for_that_window_alone() -> None:
    one = Aggregation(function="last", column="k", n=3, window=7, name="LAST")
    view = FeatureView(name="v", entity="e", windows_days=(1, 7), aggregations=(AGGREGATIONS[0], one))
    assert view.feature_names == ["n1", "n7"] and view.list_names == ["LAST"]
    ops = [Op("a", "a", T0, 1.0, key="x"), Op("b", "a", T0 + 2 * DAY_S, 1.0, key="y")]
    assert brute_force(view, ops, 1) == {"n1": 1.0, "n7": 2.0, "LAST": ["x", "y"]}  # over 7 days
    assert streaming(view, ops, None, set())[1] == brute_force(view, ops, 1)
    with pytest.raises(ValueError, match="window 30 is not one of the view's"):
        FeatureView(
            name="v", entity="e", windows_days=(1, 7), aggregations=(one.model_copy(update={"window": 30}),)
        )


def test_a_view_spec_survives_json() -> None:
    view = FeatureView(name="v", entity="e", windows_days=(1, 7), aggregations=AGGREGATIONS, delay_days=7)
    again = FeatureView.model_validate_json(view.model_dump_json())
    assert again == view and again.feature_names == view.feature_names
    with pytest.raises(ValueError, match="Extra inputs"):
        FeatureView.model_validate({**view.model_dump(), "windows": [1]})
