"""Ingest's rules at their bounds, with their whole messages, and on another declaration's field kinds
(what mutation testing showed the bad-input table left open)."""

from __future__ import annotations

from pyspark.sql import SparkSession

from services.common.usecase.events import FieldSpec
from services.ingest.transforms import Rules, classify
from tests.unit.ingest.test_transforms import EVENT, RULES, j, kafka_rows

# another declaration's field kinds: ids with the default length bound, a boolean, a lower-cased string
OTHER_FIELDS = EVENT.fields | {
    "tx_id": FieldSpec(type="id"),
    "card_present": FieldSpec(type="boolean"),
    "channel": FieldSpec(type="string", required=False, case="lower"),
    "celsius": FieldSpec(type="number", required=False, min=-50),  # a lower bound other than 0
    "device": FieldSpec(type="string", required=False, max_length=10),
}
OTHER = Rules(EVENT.model_copy(update={"fields": OTHER_FIELDS}), max_event_age_days=365)


def test_booleans_folded_strings_and_the_default_id_bound_of_another_declaration(spark: SparkSession) -> None:
    values = [
        j(tx_id=" Ab-1 ", card_present=True, channel=" WEB "),  # ids keep their case
        j(tx_id="x" * 128, card_present=False),  # the default bound itself is allowed
        j(tx_id="x" * 129, card_present=True),
        j(card_present="yes"),
        j(card_present=1),
        j(card_present=True, celsius=-60),
        j(card_present=True, device="x" * 11),
        j(card_present=True, device="x" * 10),  # at its length: allowed
    ]
    rows = classify(kafka_rows(spark, values), OTHER).orderBy("offset").collect()
    reasons = [r["reason"] for r in rows]
    assert reasons == [
        None,
        None,
        "id_too_long",
        "wrong_type",
        "wrong_type",
        "celsius_too_small",
        "device_too_long",
        None,
    ]
    assert rows[0]["tx_id"] == "Ab-1" and rows[0]["customer_id"] == "596"
    assert rows[0]["card_present"] is True and rows[1]["card_present"] is False
    assert rows[0]["channel"] == "web" and rows[1]["channel"] is None
    assert "longer than 128" in rows[2]["message"]
    assert [r["message"] for r in rows[3:-1]] == [
        "card_present: expected a JSON boolean, got STRING",
        "card_present: expected a JSON boolean, got BIGINT",
        "celsius: below -50 (-60.0)",
        "device: longer than 10",
    ]


def test_a_number_out_of_bounds_names_the_bound_and_the_value(spark: SparkSession) -> None:
    """The dead letter's message, whole: what a producer's team reads to fix its events."""
    infinite = j()[:-1].replace(b"57.16", b"-1e400") + b"}"
    rows = classify(kafka_rows(spark, [j(amount=-0.01), j(amount=10_000.0), infinite]), RULES)
    got = [(r["reason"], r["message"]) for r in rows.orderBy("offset").collect()]
    assert got == [
        ("amount_negative", "amount: negative (-0.01)"),
        ("amount_too_large", "amount: not under 10000 (10000.0)"),
        ("amount_not_finite", "amount: must be a finite number"),  # −∞ too, not only +∞
    ]


LONG_TIME = "the second tuesday of next month, at noon or so Z"  # over 40 characters, with an offset


def test_each_rule_at_its_boundary_with_its_whole_message(spark: SparkSession) -> None:
    """A record's time of 2018-04-02 12:00 (NOW): 300 s ahead and 365 days back are still valid."""
    values = [
        j(tx_id="ahead", event_time="2018-04-02T12:05:00Z"),
        j(tx_id="back", event_time="2017-04-02T12:00:00Z"),
        j(event_time="2018-13-45T99:00:00Z"),
        j(currency="A" * 50),
        b"",
        j(event_time=LONG_TIME),
        _sized(RULES.max_value_bytes),  # at the size limit: allowed
    ]
    rows = classify(kafka_rows(spark, values), RULES).orderBy("offset").collect()
    assert (
        [(r["reason"], r["message"]) for r in rows]
        == [
            (None, None),
            (None, None),
            ("bad_timestamp", "event_time: cannot parse 2018-13-45T99:00:00Z"),
            (
                "bad_currency",
                "currency: does not match ^[A-Z]{3}$, got " + "A" * 40,
            ),  # the first 40 characters
            ("empty_value", "empty value"),
            ("bad_timestamp", "event_time: cannot parse " + LONG_TIME[:40]),
            (None, None),
        ]
    )


def _sized(size: int) -> bytes:
    """A valid event of exactly `size` bytes (an extra field pads it)."""
    value = j(padding="")
    return j(padding="x" * (size - len(value)))


def test_each_structural_reason_has_its_whole_message_and_no_helper_column_leaks(spark: SparkSession) -> None:
    values = [b'{"tx_id":"\xff\xfe"}', b'{"tx_id" "42"}', b"[1, 2, 3]", j()]
    out = classify(kafka_rows(spark, values), RULES)
    raw = set(kafka_rows(spark, []).columns)
    assert set(out.columns) == raw | set(EVENT.fields) | {"reason", "message"}
    got = [(r["reason"], r["message"]) for r in out.orderBy("offset").collect()]
    assert got == [
        ("not_utf8", "value is not valid UTF-8"),
        ("malformed_json", "malformed or truncated JSON"),
        ("not_an_object", "expected a JSON object, got ARRAY<BIGINT>"),
        (None, None),
    ]


def test_a_record_failing_several_value_rules_gets_the_first_in_the_documented_order(
    spark: SparkSession,
) -> None:
    """docs/services/ingest.md's order: ids, then numbers, then timestamps, then strings, whatever
    order the declaration lists its fields in (fraud's: tx_id, event_time, …, amount, currency)."""
    future, bad_currency = "2018-04-02T13:00:00Z", "euro"
    values = [
        j(terminal_id=" ", amount=-1.0, event_time=future, currency=bad_currency),
        j(amount=-1.0, event_time=future, currency=bad_currency),
        j(event_time=future, currency=bad_currency),
        j(currency=bad_currency),
    ]
    rows = classify(kafka_rows(spark, values), RULES).orderBy("offset").collect()
    assert [r["reason"] for r in rows] == ["empty_id", "amount_negative", "future_timestamp", "bad_currency"]
