"""A use case's evaluation module: what it adds to the built-in metrics, and what naming an unknown
metric says."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pandas as pd
import pytest

from services.common.errors import ConfigError
from services.common.evaluation import BUILT_IN, Evaluation, evaluation_for
from tests.unit.training import evaluation_hooks

HOOKS = "tests.unit.training.evaluation_hooks"
TEST = pd.DataFrame({"target": [1, 0, 0, 0], "score": [0.9, 0.1, 0.2, 0.3]})


def _declared(module: str | None, k: int | None = None) -> object:
    return SimpleNamespace(evaluation=module, decision=SimpleNamespace(k=k))


def test_without_a_module_the_built_in_metrics_and_every_event() -> None:
    ev = evaluation_for(_declared(None))  # type: ignore[arg-type]
    assert ev == Evaluation() and ev.source == "built in" and dict(ev.baselines) == {}
    assert dict(ev.metrics) == BUILT_IN
    assert ev.test_set(TEST, TEST, date(2018, 1, 1), date(2018, 1, 2), 7) is TEST


def test_a_ranking_model_is_measured_by_recall_ndcg_and_mrr_at_its_k() -> None:
    ev = evaluation_for(_declared(None, k=3))  # type: ignore[arg-type]
    assert list(ev.metrics) == ["recall_at_3", "ndcg_at_3", "mrr_at_3"]
    ranks = pd.DataFrame({"rank": [1.0, 3.0, 4.0, float("inf")]})  # the truth's place in each list
    got = {name: metric(ranks) for name, metric in ev.metrics.items()}
    assert got["recall_at_3"] == pytest.approx(2 / 4)  # rank 4 is past k
    assert got["ndcg_at_3"] == pytest.approx((1.0 + 1 / 2) / 4)  # 1/log2(1+1), 1/log2(3+1)
    assert got["mrr_at_3"] == pytest.approx((1.0 + 1 / 3) / 4)
    assert all(pd.isna(metric(ranks.iloc[:0])) for metric in ev.metrics.values())


def test_a_module_adds_its_metrics_over_the_built_in_ones_its_test_set_and_baselines() -> None:
    ev = evaluation_for(_declared(HOOKS))  # type: ignore[arg-type]
    assert ev.source == HOOKS
    assert dict(ev.metrics) == {
        "auc_roc": evaluation_hooks.auc_roc,  # the module's own wins over the built-in one
        "average_precision": BUILT_IN["average_precision"],
        "share_of_frauds": evaluation_hooks.share_of_frauds,
    }
    assert ev.test_set is evaluation_hooks.first_row
    assert dict(ev.baselines) == {"coin": {"share_of_frauds": 0.5}}


def test_a_module_that_adds_nothing_keeps_the_built_in_ones_but_names_itself() -> None:
    ev = evaluation_for(_declared("tests.unit.training.empty_hooks"))  # type: ignore[arg-type]
    assert dict(ev.metrics) == BUILT_IN and dict(ev.baselines) == {}
    assert ev.source == "tests.unit.training.empty_hooks"
    assert ev.test_set(TEST, TEST, date(2018, 1, 1), date(2018, 1, 2), 7) is TEST


def test_a_module_that_cannot_be_imported_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError) as caught:
        evaluation_for(_declared("tests.unit.training.no_such_module"))  # type: ignore[arg-type]
    assert str(caught.value) == (
        "evaluation: cannot import 'tests.unit.training.no_such_module' "
        "(No module named 'tests.unit.training.no_such_module')"
    )


def test_naming_an_unknown_metric_says_which_and_what_there_is() -> None:
    ev = evaluation_for(_declared(HOOKS))  # type: ignore[arg-type]
    ev.require(["auc_roc", "share_of_frauds"], "monitor.quality")  # all known: nothing raised
    ev.require((), "monitor.quality")
    with pytest.raises(ConfigError) as caught:
        ev.require(["auc_roc", "recall", "mrr"], "monitor.quality")
    assert str(caught.value) == (
        "monitor.quality names recall, mrr: not a metric of the use case (it has auc_roc, "
        "average_precision, share_of_frauds; a use case adds its own in its evaluation module's METRICS)"
    )
