"""Every cleaning rule of ingest, on a table of good and bad Kafka records."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from services.ingest.outputs import kafka_records, lake_rows
from services.ingest.transforms import Rules, classify
from tests.factories import GOOD_TX as GOOD
from usecases.fraud import FRAUD

KAFKA_SCHEMA = (
    "key binary, value binary, topic string, partition int, offset long, timestamp timestamp, "
    "timestampType int, headers array<struct<key:string,value:binary>>"
)
NOW = datetime(2018, 4, 2, 12, 0, tzinfo=UTC)
AMOUNT = FRAUD.event.fields["amount"].model_copy(update={"below": 10_000})
EVENT = FRAUD.event.model_copy(update={"fields": FRAUD.event.fields | {"amount": AMOUNT}})
RULES = Rules(EVENT, max_value_bytes=1_048_576, max_future_skew_s=300, max_event_age_days=365)


def j(**changes: object) -> bytes:
    doc = {**GOOD, **changes}
    return orjson.dumps({k: v for k, v in doc.items() if v is not ...})


BAD: list[tuple[str, bytes | None, str, str]] = [
    ("malformed json", b'{"tx_id" "42"}', "malformed_json", "malformed"),
    ("truncated json", j()[:25], "malformed_json", "truncated"),
    ("json array", b"[1, 2, 3]", "not_an_object", "ARRAY"),
    ("empty value", b"", "empty_value", "empty"),
    ("null value", None, "empty_value", "empty"),
    ("non-utf8 bytes", b'{"tx_id":"\xff\xfe"}', "not_utf8", "UTF-8"),
    ("1 MB value", j(padding="x" * 1_100_000), "too_large", "exceeds"),
    ("missing tx_id", j(tx_id=...), "missing_field", "tx_id: required"),
    ("null amount", j(amount=None), "missing_field", "amount: required"),
    ("amount as string", j(amount="57.16"), "wrong_type", "amount: expected a JSON number, got STRING"),
    ("amount as object", j(amount={"v": 1}), "wrong_type", "amount: expected a JSON number, got OBJECT"),
    (
        "customer as number",
        j(customer_id=596),
        "wrong_type",
        "customer_id: expected a JSON string, got BIGINT",
    ),
    ("time as boolean", j(event_time=True), "wrong_type", "event_time: expected"),
    ("currency as number", j(currency=978), "wrong_type", "currency: expected a JSON string"),
    ("empty tx_id", j(tx_id=""), "empty_id", "tx_id: empty"),
    ("blank terminal", j(terminal_id="   "), "empty_id", "terminal_id: empty"),
    ("NaN literal", j()[:-1].replace(b"57.16", b"NaN") + b"}", "malformed_json", "malformed"),
    ("NaN as string", j(amount="NaN"), "wrong_type", "amount: expected a JSON number"),
    ("infinite amount", j()[:-1].replace(b"57.16", b"1e400") + b"}", "amount_not_finite", "finite"),
    ("negative amount", j(amount=-0.01), "amount_negative", "negative"),
    ("huge amount", j(amount=10_000.0), "amount_too_large", "not under 10000"),
    ("unparseable time", j(event_time="yesterday noon"), "timestamp_without_offset", "needs Z"),
    ("garbage time with offset", j(event_time="2018-13-45T99:00:00Z"), "bad_timestamp", "cannot parse"),
    # epoch milliseconds past year 9999: Spark's conversion overflows (a failed batch, not a dead letter)
    ("huge epoch time", j(event_time=9 * 10**18), "bad_timestamp", "cannot parse 9000000000000000000"),
    ("epoch time in year 10000", j(event_time=253_402_300_800_000), "bad_timestamp", "cannot parse"),
    ("time without offset", j(event_time="2018-04-01T00:00:31"), "timestamp_without_offset", "offset"),
    ("future time", j(event_time="2018-04-02T12:10:00Z"), "future_timestamp", "after the record"),
    ("ancient time", j(event_time="2016-01-01T00:00:00Z"), "ancient_timestamp", "older than 365"),
    ("bad currency", j(currency="euro"), "bad_currency", "currency: does not match ^[A-Z]{3}$, got EURO"),
    ("very long id", j(tx_id="x" * 200), "id_too_long", "longer than 128"),
]


def kafka_rows(spark: SparkSession, values: list[bytes | None]) -> DataFrame:
    rows = [
        (b"k", v, "transactions.raw", i % 3, i, NOW, 0, [("traceparent", b"00-ab")])
        for i, v in enumerate(values)
    ]
    return spark.createDataFrame(rows, KAFKA_SCHEMA)


def test_each_bad_input_is_rejected_with_its_reason(spark: SparkSession) -> None:
    """One classification of the whole table, in the test itself (not a shared fixture: mutation testing
    ties the rules to the tests that run them)."""
    out = classify(kafka_rows(spark, [v for _, v, _, _ in BAD]), RULES)
    got = {r["offset"]: r.asDict() for r in out.select("offset", "reason", "message").collect()}
    wrong = [
        f"{name}: {got[i]}"
        for i, (name, _, reason, says) in enumerate(BAD)
        if got[i]["reason"] != reason or says.lower() not in str(got[i]["message"]).lower()
    ]
    assert wrong == [], "\n".join(wrong)


def test_the_bad_table_is_at_least_twenty_inputs() -> None:
    assert len(BAD) >= 20


def test_valid_inputs_are_typed_and_normalised(spark: SparkSession) -> None:
    values = [
        j(),
        j(tx_id=" 43 ", customer_id=" 7 ", currency=" usd "),
        j(event_time=1522540831000, amount=12),
        j(tx_id="45", currency=None, channel="web"),
        j(tx_id="46", event_time="2018-04-01T02:00:31+02:00"),
        j(tx_id="47", amount=0.0),  # the bounds: min 0 is allowed, `below` is not reached
        j(tx_id="48", amount=9999.99),
    ]
    rows = classify(kafka_rows(spark, values), RULES).orderBy("offset").collect()
    assert [r["reason"] for r in rows] == [None] * 7
    assert [r["tx_id"] for r in rows] == ["42", "43", "42", "45", "46", "47", "48"]
    assert [r["amount"] for r in rows[5:]] == [0.0, 9999.99]
    assert rows[1]["customer_id"] == "7" and rows[1]["currency"] == "USD"
    assert [r["currency"] for r in (rows[0], rows[3])] == ["EUR", "EUR"]
    expected = datetime(2018, 4, 1, 0, 0, 31, tzinfo=UTC)
    assert all(r["event_time"].replace(tzinfo=UTC) == expected for r in rows[:3] + rows[4:])
    assert rows[2]["amount"] == 12.0


def test_unknown_extra_fields_are_dropped_from_the_clean_record(spark: SparkSession) -> None:
    out = kafka_records(classify(kafka_rows(spark, [j(channel="web")]), RULES), EVENT, "clean", "dlq")
    (row,) = out.collect()
    doc = orjson.loads(row["value"])
    assert row["topic"] == "clean" and row["key"] == b"596"
    assert "channel" not in doc
    assert set(doc) == {
        "tx_id",
        "event_time",
        "customer_id",
        "terminal_id",
        "amount",
        "currency",
        "ingest_time",
        "source_partition",
        "source_offset",
    }
    assert doc["event_time"].startswith("2018-04-01T00:00:31")


def test_rejected_records_keep_their_bytes_and_gain_reason_headers(spark: SparkSession) -> None:
    out = kafka_records(classify(kafka_rows(spark, [b"{oops"]), RULES), EVENT, "clean", "dlq")
    (row,) = out.collect()
    headers = {h["key"]: bytes(h["value"]) for h in row["headers"]}
    assert row["topic"] == "dlq" and bytes(row["value"]) == b"{oops" and bytes(row["key"]) == b"k"
    assert headers["rtloop.error.reason"] == b"malformed_json"
    assert headers["rtloop.service"] == b"ingest"
    assert headers["rtloop.source.offset"] == b"0"
    assert headers["traceparent"] == b"00-ab", "the original headers are kept"


def test_clean_values_satisfy_the_clean_transaction_contract(spark: SparkSession) -> None:
    from services.common.contracts import decoder_for
    from usecases.fraud import CONTRACTS

    out = kafka_records(
        classify(kafka_rows(spark, [j(), j(tx_id="2", currency="usd")]), RULES), EVENT, "c", "d"
    )
    decode = decoder_for(CONTRACTS.clean)
    decoded = [decode(bytes(r["value"])) for r in out.collect()]
    assert [d.currency for d in decoded] == ["EUR", "USD"]
    assert decoded[0].source_offset == 0


def test_duplicates_are_removed_within_the_watermark(spark: SparkSession, tmp_path) -> None:  # type: ignore[no-untyped-def]
    values = [j(tx_id="1"), j(tx_id="2"), j(tx_id="1"), j(tx_id="3"), j(tx_id="2"), b"{bad"]
    path = tmp_path / "raw"
    kafka_rows(spark, values).write.parquet(str(path))
    stream = spark.readStream.schema(kafka_rows(spark, []).schema).parquet(str(path))
    rows = lake_rows(classify(stream, RULES), EVENT, "1 hour", 64)
    name = f"dedup_{uuid.uuid4().hex[:8]}"  # mutmut's workers share one session
    sink = rows.writeStream.format("memory").queryName(name).outputMode("append").start()
    sink.processAllAvailable()
    sink.stop()
    got = spark.table(name).collect()
    spark.catalog.dropTempView(name)
    tx_ids = sorted(r["tx"]["tx_id"] for r in got if r["kind"] == "valid")
    assert tx_ids == ["1", "2", "3"]
    (bad,) = [r for r in got if r["kind"] == "rejected"]
    assert bad["rejected"]["reason"] == "malformed_json"


def test_historical_rows_after_a_rejected_row_are_kept_in_later_batches(
    spark: SparkSession, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Replayed history (event times long before the Kafka timestamps) with a corrupted record in the
    first micro-batch: the second batch's valid rows must still reach the lake."""
    path = tmp_path / "raw"
    schema = kafka_rows(spark, []).schema
    kafka_rows(spark, [j(tx_id="1"), b"{bad"]).write.parquet(str(path / "b1"))
    stream = spark.readStream.schema(schema).option("recursiveFileLookup", "true").parquet(str(path))
    rows = lake_rows(classify(stream, RULES), EVENT, "1 hour", 64)
    name = f"replayed_{uuid.uuid4().hex[:8]}"
    sink = rows.writeStream.format("memory").queryName(name).outputMode("append").start()
    sink.processAllAvailable()
    kafka_rows(spark, [j(tx_id="2"), j(tx_id="1")]).write.parquet(str(path / "b2"))
    sink.processAllAvailable()
    sink.stop()
    got = spark.table(name).filter(F.col("kind") == "valid").collect()
    spark.catalog.dropTempView(name)
    assert sorted(r["tx"]["tx_id"] for r in got) == ["1", "2"], "tx 2 kept, the re-sent tx 1 dropped"
