"""The streaming engine, fed the replay's event order in-process, equals the pandas batch definitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.features_helpers import batch_features, compare, fraud_engine
from usecases.fraud import CONTRACTS
from usecases.fraud.replay import build_stream
from usecases.fraud.simulator import SimulationConfig, simulate


def test_engine_matches_batch_definitions_on_a_40_day_slice() -> None:
    table = simulate(SimulationConfig(n_customers=300, n_terminals=600, n_days=40))
    stream = build_stream(table)
    customers: dict[str, object] = {}
    terminals: dict[str, object] = {}
    engine = fraud_engine(customers, terminals)
    now = datetime.now(UTC)
    got: dict[str, dict[str, float | None]] = {}
    for is_label, row, when, ids in stream.walk():
        if is_label:
            engine.labels(
                [
                    CONTRACTS.feedback.model_construct(
                        **ids, tx_event_time=when, is_fraud=bool(stream.is_fraud[row]), label_time=when
                    )
                ]
            )
            continue
        tx = CONTRACTS.clean.model_construct(
            **ids,
            event_time=when,
            amount=float(stream.amount[row]),
            currency="EUR",
            ingest_time=now,
            source_partition=0,
            source_offset=int(row),
        )
        (computed,) = engine.transactions([(tx, 0, int(row))])
        got[computed.event_id] = dict(computed.features)
    expected = batch_features(table)
    assert len(expected) == table.num_rows == len(got)
    problems = compare(expected, got)
    assert not problems, f"{len(problems)} mismatches, first: {problems[:5]}"
    assert expected["TERMINAL_ID_RISK_30DAY_WINDOW"].max() > 0  # frauds in the slice: risk is exercised


def _at_t(i: int, day: int, customer: str, source: int = 0) -> Any:
    """Transaction i of `customer` at terminal T on day `day` of April 2018, from raw partition `source`."""
    return CONTRACTS.clean.model_construct(
        tx_id=str(i),
        event_time=datetime(2018, 4, 1, tzinfo=UTC) + timedelta(days=day),
        customer_id=customer,
        terminal_id="T",
        amount=1.0,
        currency="EUR",
        ingest_time=datetime.now(UTC),
        source_partition=source,
        source_offset=i,
    )


def test_terminal_state_is_pruned_only_behind_the_slowest_partition() -> None:
    customers: dict[str, object] = {}
    terminals: dict[str, object] = {}
    engine = fraud_engine(customers, terminals, lateness_days=0)
    clean = _at_t
    engine.transactions([(clean(1, 0, "a", 0), 0, 1)])  # day 0 at terminal T, raw partition 0
    engine.transactions([(clean(2, 1, "b", 1), 0, 2)])  # raw partition 1 at day 1
    engine.transactions([(clean(3, 60, "a", 0), 0, 3)])  # raw partition 0 runs 60 days ahead...
    (late,) = engine.transactions([(clean(4, 20, "b", 1), 0, 4)])  # ...while raw partition 1 is at day 20
    # days 0 and 1 lie in (20 − 37, 20 − 7]: still counted although raw partition 0 is far past them
    assert late.features["TERMINAL_ID_NB_TX_30DAY_WINDOW"] == 2


def test_a_restart_does_not_prune_past_a_partition_that_has_not_delivered_yet() -> None:
    """After a restart one partition may be delivered long after the others (days of event time in a
    backlog): the event times seen before the restart must still hold pruning back."""
    customers: dict[str, object] = {}
    terminals: dict[str, object] = {}  # a table restored from its changelog survives the restart
    clean = _at_t
    before = fraud_engine(customers, terminals, lateness_days=0)
    before.transactions([(clean(1, 0, "a"), 0, 1), (clean(2, 1, "b"), 1, 1)])  # clean partitions 0, 1
    after = fraud_engine(customers, terminals, lateness_days=0)
    after.transactions([(clean(3, 60, "a"), 0, 2)])  # partition 0 first, 60 days ahead
    (late,) = after.transactions([(clean(4, 20, "b"), 1, 2)])  # partition 1 comes later, at day 20
    assert late.features["TERMINAL_ID_NB_TX_30DAY_WINDOW"] == 2


def test_the_first_views_state_is_pruned_behind_its_own_newest_event() -> None:
    """A customer's events come in order from one sub-stream: its state need not wait for the others."""
    customers: dict[str, Any] = {}
    terminals: dict[str, Any] = {}
    engine = fraud_engine(customers, terminals, lateness_days=0)
    engine.transactions([(_at_t(1, 0, "a", 0), 0, 1)])  # customer a at day 0, raw partition 0
    engine.transactions([(_at_t(2, 0, "b", 1), 0, 2)])  # raw partition 1 stays at day 0
    engine.transactions([(_at_t(3, 60, "a", 0), 0, 3)])  # a, 60 days later
    assert customers["a"].ids == ["3"]  # day 0 is out of a's 30-day windows
    assert terminals["T"].ids == ["1", "2", "3"]  # the terminal's: held back by raw partition 1
