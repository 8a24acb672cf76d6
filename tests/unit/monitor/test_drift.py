"""Drift scores from the precomputed reference equal Evidently's own stattests on the raw reference, a
shifted column drifts, and windows drawn from the reference's distribution do not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from evidently.legacy.calculations.stattests import jensenshannon_stat_test, wasserstein_stat_test
from evidently.legacy.core import ColumnType

from services.common.drift import Reference, drift

NAMES = ["amount", "count", "weekend"]


def _draw(rng: np.random.Generator, n: int, amount_scale: float = 1.0, weekend: float = 2 / 7) -> np.ndarray:
    return np.column_stack(
        [
            rng.gamma(2.0, 30.0, n) * amount_scale,
            rng.poisson(4.0, n).astype(float),
            (rng.random(n) < weekend).astype(float),
        ]
    )


@pytest.mark.parametrize(
    ("case", "scale", "weekend"),
    [("same distribution", 1.0, 2 / 7), ("amounts +25%", 1.25, 2 / 7), ("weekend share doubled", 1.0, 4 / 7)],
)
def test_scores_match_evidently_on_the_raw_reference(case: str, scale: float, weekend: float) -> None:
    rng = np.random.default_rng(3)
    ref_x, cur_x = _draw(rng, 20_000), _draw(rng, 10_000, scale, weekend)
    ours = drift(Reference.from_matrix(ref_x, NAMES), cur_x)
    assert [c.method for c in ours] == ["wasserstein", "wasserstein", "jensenshannon"]
    tests = [wasserstein_stat_test, wasserstein_stat_test, jensenshannon_stat_test]
    for j, (column, test) in enumerate(zip(ours, tests, strict=True)):
        theirs = test(pd.Series(ref_x[:, j]), pd.Series(cur_x[:, j]), ColumnType.Numerical, None)
        assert column.score == pytest.approx(theirs.drift_score, abs=0.005), (case, column.name)
        assert column.drifted == theirs.drifted, (case, column.name)
        assert column.threshold == theirs.actual_threshold
    drifted = {c.name for c in ours if c.drifted}
    expected = {"same distribution": set(), "amounts +25%": {"amount"}, "weekend share doubled": {"weekend"}}
    assert drifted == expected[case]


def test_twenty_windows_from_the_reference_distribution_never_drift() -> None:
    rng = np.random.default_rng(11)
    reference = Reference.from_matrix(_draw(rng, 50_000), NAMES)
    worst = max(c.score for _ in range(20) for c in drift(reference, _draw(rng, 10_000)))
    assert worst < 0.05, "well under the 0.1 threshold"


def test_the_reference_survives_a_json_round_trip_and_checks_the_width() -> None:
    reference = Reference.from_matrix(_draw(np.random.default_rng(1), 5_000), NAMES, source="fraud v1")
    again = Reference.from_dict(reference.to_dict())
    assert again == reference
    with pytest.raises(ValueError, match="expected 3 columns"):
        drift(again, np.zeros((10, 2)))


def test_rows_rebuilt_from_the_reference_give_evidently_the_same_verdicts() -> None:
    """The HTML report's reference rows come from the statistics: Evidently's tests on them agree."""
    from services.monitor.adapters.reports import reference_rows

    rng = np.random.default_rng(8)
    reference = Reference.from_matrix(_draw(rng, 20_000), NAMES)
    rows = reference_rows(reference)
    assert list(rows.columns) == NAMES and len(rows) == 1000
    assert rows["weekend"].mean() == pytest.approx(2 / 7, abs=0.01)
    cur_x = _draw(rng, 10_000, amount_scale=1.25)
    ours = drift(reference, cur_x)
    for j, test in enumerate([wasserstein_stat_test, wasserstein_stat_test, jensenshannon_stat_test]):
        theirs = test(rows.iloc[:, j], pd.Series(cur_x[:, j]), ColumnType.Numerical, None)
        assert ours[j].score == pytest.approx(theirs.drift_score, abs=0.01)
        assert ours[j].drifted == theirs.drifted
