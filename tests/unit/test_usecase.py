"""Use-case declarations: fraud's validates, wrong ones are refused naming the file and the key, and the
services' topic and view settings come from the declaration named by RTLOOP_USECASE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.common.contracts import contracts_for
from services.common.errors import ConfigError
from services.common.usecase import load_usecase
from services.features.config import FeaturesSettings
from services.ingest.config import IngestSettings
from services.monitor.config import MonitorSettings
from services.scorer.config import ScorerSettings
from services.training.config import TrainSettings
from services.training.main import judging_for
from tests.factories import declare


def _refused(tmp_path: Path, change: Any) -> str:
    path = declare(tmp_path, change)
    with pytest.raises(ConfigError) as err:
        load_usecase(path)
    assert path in str(err.value)
    return str(err.value)


def test_fraud_declares_the_handbook_inputs_views_and_topics() -> None:
    fraud = load_usecase("fraud")
    customer, terminal = fraud.features.views
    assert (customer.entity, customer.delay_days, terminal.entity, terminal.delay_days) == (
        "customer_id",
        0,
        "terminal_id",
        7,
    )
    assert terminal.takes_feedback and not customer.takes_feedback
    assert fraud.feature_service.name == fraud.model.inputs == "fraud_v1"
    assert len(fraud.feature_service.feature_names) == 15
    assert (fraud.topics.clean, fraud.topics.feedback, fraud.topics.dlq) == (
        "transactions.clean",
        "labels",
        "transactions.dlq",
    )


def test_an_unknown_key_is_refused_with_its_path(tmp_path: Path) -> None:
    message = _refused(tmp_path, lambda d: d["features"]["views"][1].update(windowz=[1]))
    assert "features.views.1.windowz" in message


def test_a_window_over_a_field_that_is_not_a_number_is_refused(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["features"]["views"][0]["aggregations"][1]["column"] = "terminal_id"

    assert "'terminal_id' is not a numeric event field" in _refused(tmp_path, change)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda d: d["features"]["views"][0].update(entity="terminal_id"), "keyed by the event key"),
        (lambda d: d["model"].update(inputs="other_v1"), "model.inputs must name the feature service"),
        (lambda d: d["decision"].update(rule="top_k", k=10), "a ranking model by top_k"),
        (lambda d: d["event"].update(id="amount"), "id names 'amount'"),
        (lambda d: d["monitor"].update(drift_ignore=["NOPE"]), "'NOPE' is not a model input"),
        (lambda d: d["training"].update(protocol="last_per_key"), "a probability model's is one of delayed"),
        (lambda d: d["features"]["event_inputs"][1].update(hours=[0, 6]), "hours is for"),
        (lambda d: d["event"]["fields"].update(offset={"type": "number"}), "'offset' is reserved"),
        (lambda d: d["event"]["fields"].update({"a.b": {"type": "number"}}), "not a plain name"),
        (lambda d: d["event"]["fields"]["amount"].update(case="upper"), "case applies to strings"),
        (
            lambda d: d["features"]["views"][1]["aggregations"].append(
                {"function": "distinct", "column": "user_id", "name": "USERS_{days}"}
            ),
            "'user_id' (distinct, last) is not an event field",
        ),
        (
            lambda d: d["features"]["views"][0]["aggregations"].append(
                {
                    "function": "last",
                    "column": "terminal_id",
                    "n": 3,
                    "name": "CUSTOMER_ID_NB_TX_{days}DAY_WINDOW",
                }
            ),
            "feature names repeat",
        ),
        (
            lambda d: d["features"]["views"][1]["aggregations"].append(
                {
                    "function": "last",
                    "column": "customer_id",
                    "n": 3,
                    "name": "CUSTOMER_ID_NB_TX_{days}DAY_WINDOW",
                }
            ),
            "input names repeat",
        ),
    ],
)
def test_inconsistent_declarations_are_refused(tmp_path: Path, change: Any, says: str) -> None:
    assert says in _refused(tmp_path, change)


def test_a_missing_use_case_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="names one of fraud"):
        load_usecase("no_such_case")


def _rename(doc: dict[str, Any]) -> None:
    doc["topics"] |= {
        "raw": "sensors.raw",
        "clean": "sensors.clean",
        "features": "sensors.features",
        "feedback": "sensors.truth",
        "predictions": "sensors.predictions",
        "dlq": "sensors.dlq",
    }
    doc["features"]["service"] = doc["model"]["inputs"] = "other_v2"
    doc["model"]["name"] = "sensor"
    doc["feedback"]["delay_days"] = 2
    doc["monitor"] |= {"quality": {"auc_roc": 0.6}, "drift_ignore": [], "feedback_ttl_days": 3}


def test_every_service_takes_its_topics_model_and_thresholds_from_the_declaration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RTLOOP_USECASE", declare(tmp_path, _rename))
    features, scorer, monitor = FeaturesSettings(), ScorerSettings(), MonitorSettings()
    ingest, train = IngestSettings(), TrainSettings()
    assert (ingest.raw_topic, ingest.clean_topic, ingest.dlq_topic) == (
        "sensors.raw",
        "sensors.clean",
        "sensors.dlq",
    )
    assert (features.clean_topic, features.labels_topic, features.features_topic, features.dlq_topic) == (
        "sensors.clean",
        "sensors.truth",
        "sensors.features",
        "sensors.dlq",
    )
    assert features.feature_service == scorer.feature_service == "other_v2"
    assert (scorer.features_topic, scorer.predictions_topic, scorer.model_name) == (
        "sensors.features",
        "sensors.predictions",
        "sensor",
    )
    assert (monitor.predictions_topic, monitor.labels_topic, monitor.model_name) == (
        "sensors.predictions",
        "sensors.truth",
        "sensor",
    )
    assert (monitor.quality, monitor.drift_ignore, monitor.label_ttl_days) == ({"auc_roc": 0.6}, [], 3)
    assert (train.model_name, train.delay_days, train.labels_topic) == ("sensor", 2, "sensors.truth")
    monkeypatch.setenv("FEATURES_CLEAN_TOPIC", "mine")  # a setting still wins over the declaration
    monkeypatch.setenv("MONITOR_QUALITY", '{"auc_roc": 0.9, "average_precision": 0.3}')
    assert FeaturesSettings().clean_topic == "mine"
    assert MonitorSettings().quality == {"auc_roc": 0.9, "average_precision": 0.3}


def test_a_quality_metric_the_use_case_lacks_is_refused_naming_the_ones_it_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONITOR_QUALITY", '{"card_precision_at_100": 0.2}')
    assert MonitorSettings().checks.quality == {"card_precision_at_100": 0.2}, "fraud's own metric"
    monkeypatch.setenv("RTLOOP_USECASE", declare(tmp_path, lambda doc: doc.pop("evaluation")))
    with pytest.raises(ConfigError, match=r"card_precision_at_100: not a metric of the use case .*auc_roc"):
        _ = MonitorSettings().checks
    monkeypatch.setenv("TRAIN_GATE_METRIC", "card_precision_at_100")
    with pytest.raises(ConfigError, match="TRAIN_GATE_METRIC names card_precision_at_100"):
        judging_for(TrainSettings())


def test_recommendations_declares_a_ranking_model_on_the_users_lists_and_the_next_event() -> None:
    reco = load_usecase("recommendations")
    user, item = reco.feature_service.views
    assert user.lists == ("USER_RECENT_ITEMS", "USER_SEEN_ITEMS") and item.lists == ()
    assert "USER_NB_1H" in user.features and "ITEM_USERS_168H" in item.features
    assert reco.labels is None and reco.feedback_fields is None and reco.topics.feedback is None
    assert reco.model.ranking is not None and reco.model.ranking.candidates == 100
    assert (reco.decision.rule, reco.decision.k) == ("top_k", 10)
    stems = set(contracts_for(reco).stems)
    assert stems == {
        "interaction.v1",
        "clean_interaction.v1",
        "featurized_interaction.v1",
        "recommendation.v1",
    }


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda d: d["feedback"].update(truth="nope"), "feedback.truth 'nope' is not an event field"),
        (lambda d: d["topics"].update(feedback="labels"), "no share, no topics.feedback"),
        (lambda d: d["model"].pop("ranking"), "says what it ranks"),
        (lambda d: d["model"]["ranking"].update(items="rating"), "'rating' is not an id field"),
        (lambda d: d["training"].update(protocol="holdout"), "a ranking model's is one of last_per_key"),
        (lambda d: d["model"]["ranking"].update(catalog="no colon"), "catalog"),
        (lambda d: d["model"]["ranking"].update(recent="USER_NB_1H"), "'USER_NB_1H' is not a list (last)"),
        (
            lambda d: d["features"]["views"][0]["aggregations"][2].update(window=2),
            "window 2 is not one of the view's",
        ),
        (
            lambda d: d["features"]["views"][0]["aggregations"][2].pop("window"),
            "feature names repeat",
        ),
    ],
)
def test_inconsistent_recommendation_declarations_are_refused(tmp_path: Path, change: Any, says: str) -> None:
    path = declare(tmp_path, change, base="recommendations")
    with pytest.raises(ConfigError) as err:
        load_usecase(path)
    assert says in str(err.value)


def test_labels_need_their_topic(tmp_path: Path) -> None:
    assert "the labels' topic is needed" in _refused(tmp_path, lambda d: d["topics"].pop("feedback"))
