"""Cleaning rules as pure DataFrame → DataFrame functions over Kafka source rows (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

__all__ = ["IDS", "REQUIRED", "Rules", "classify"]

REQUIRED = ("tx_id", "event_time", "customer_id", "terminal_id", "amount")
IDS = ("tx_id", "customer_id", "terminal_id")
_INTEGRAL = ("BIGINT", "INT", "SMALLINT", "TINYINT")
_NUMERIC = (*_INTEGRAL, "DOUBLE", "FLOAT")
_OFFSET = r"(Z|z|[+-]\d{2}:?\d{2})$"
_JSON_NULL = ("VOID", "NULL")  # how schema_of_variant names a JSON null


@dataclass(frozen=True)
class Rules:
    """Parameters of the Transaction v1 cleaning rules."""

    max_value_bytes: int = 1_048_576
    max_amount: float = 1_000_000.0
    max_future_skew_s: float = 300.0
    max_event_age_days: float = 10_000.0
    default_currency: str = "EUR"
    max_id_length: int = 128


def _type(v: Column, field: str) -> Column:
    """The JSON type of a field as Spark names it (STRING, BIGINT, DECIMAL(3,1), NULL, …)."""
    return F.schema_of_variant(F.variant_get(v, f"$.{field}", "variant"))


def _event_time(v: Column, kind: Column) -> Column:
    text = F.try_variant_get(v, "$.event_time", "string")
    millis = F.try_variant_get(v, "$.event_time", "bigint")
    return F.when(kind == "STRING", F.trim(text).try_cast("timestamp")).when(
        kind.isin(*_INTEGRAL), F.timestamp_millis(millis)
    )


def _checks(df: DataFrame, rules: Rules) -> list[tuple[Column, str, Column]]:
    """(failed?, reason, message) in priority order: the first failing rule names the reason."""
    c = F.col

    def t(field: str) -> Column:
        return F.col(f"_t_{field}")

    checks: list[tuple[Column, str, Column]] = [
        (c("value").isNull() | (F.length("value") == 0), "empty_value", F.lit("empty value")),
        (
            F.length("value") > rules.max_value_bytes,
            "too_large",
            F.format_string(f"value of %d bytes exceeds {rules.max_value_bytes}", F.length("value")),
        ),
        (
            ~F.coalesce(F.is_valid_utf8(c("_text")), F.lit(False)),
            "not_utf8",
            F.lit("value is not valid UTF-8"),
        ),
        (c("_v").isNull(), "malformed_json", F.lit("malformed or truncated JSON")),
        (
            ~F.schema_of_variant("_v").startswith("OBJECT"),
            "not_an_object",
            F.concat(F.lit("expected a JSON object, got "), F.schema_of_variant("_v")),
        ),
    ]
    for f in REQUIRED:
        checks.append(
            (t(f).isNull() | t(f).isin(*_JSON_NULL), "missing_field", F.lit(f"{f}: required field missing"))
        )
    wrong: list[tuple[str, Column, str]] = [(f, t(f) != "STRING", "a JSON string") for f in IDS]
    wrong += [
        ("amount", ~(t("amount").isin(*_NUMERIC) | t("amount").startswith("DECIMAL")), "a JSON number"),
        (
            "event_time",
            ~t("event_time").isin("STRING", *_INTEGRAL),
            "an RFC 3339 string or epoch milliseconds",
        ),
        ("currency", t("currency").isNotNull() & ~t("currency").isin("STRING", *_JSON_NULL), "a JSON string"),
    ]
    for f, bad, expected in wrong:
        checks.append((bad, "wrong_type", F.concat(F.lit(f"{f}: expected {expected}, got "), t(f))))
    for f in IDS:
        checks.append((F.length(c(f)) == 0, "empty_id", F.lit(f"{f}: empty after trimming spaces")))
        checks.append(
            (
                F.length(c(f)) > rules.max_id_length,
                "id_too_long",
                F.lit(f"{f}: longer than {rules.max_id_length} characters"),
            )
        )
    amount = c("amount")
    checks += [
        (
            F.isnan(amount) | amount.isin(float("inf"), float("-inf")),
            "amount_not_finite",
            F.lit("amount: must be a finite number"),
        ),
        (
            amount < 0,
            "amount_negative",
            F.concat(F.lit("amount: negative ("), amount.cast("string"), F.lit(")")),
        ),
        (
            amount >= rules.max_amount,
            "amount_too_large",
            F.concat(F.lit(f"amount: not under {rules.max_amount:g} ("), amount.cast("string"), F.lit(")")),
        ),
        (
            (t("event_time") == "STRING") & ~F.trim(c("_event_time_text")).rlike(_OFFSET),
            "timestamp_without_offset",
            F.lit("event_time: RFC 3339 needs Z or an offset"),
        ),
        (
            c("event_time").isNull(),
            "bad_timestamp",
            F.concat(
                F.lit("event_time: cannot parse "),
                F.coalesce(F.substring(c("_event_time_text"), 1, 40), F.lit("?")),
            ),
        ),
        (
            c("event_time") > c("timestamp") + F.make_dt_interval(secs=F.lit(rules.max_future_skew_s)),
            "future_timestamp",
            F.lit(f"event_time: more than {rules.max_future_skew_s:g}s after the record's time"),
        ),
        (
            c("event_time") < c("timestamp") - F.make_dt_interval(days=F.lit(int(rules.max_event_age_days))),
            "ancient_timestamp",
            F.lit(f"event_time: older than {rules.max_event_age_days:g} days"),
        ),
        (
            ~c("currency").rlike("^[A-Z]{3}$"),
            "bad_currency",
            F.concat(F.lit("currency: expected a 3-letter code, got "), F.substring(c("currency"), 1, 16)),
        ),
    ]
    return checks


def classify(raw: DataFrame, rules: Rules) -> DataFrame:
    """Kafka rows (key, value, topic, partition, offset, timestamp, headers) → typed, normalised
    columns plus `reason` and `message` (both null for a valid transaction)."""
    text = F.col("value").cast("string")
    parseable = (F.length("value") <= rules.max_value_bytes) & F.is_valid_utf8(text)
    v = F.when(parseable, F.try_parse_json(text))
    typed = raw.withColumn("_text", text).withColumn("_v", v)
    for f in (*REQUIRED, "currency"):
        typed = typed.withColumn(f"_t_{f}", _type(F.col("_v"), f))
    typed = (
        typed.withColumn("_event_time_text", F.try_variant_get("_v", "$.event_time", "string"))
        .withColumn("event_time", _event_time(F.col("_v"), F.col("_t_event_time")))
        .withColumn("amount", F.try_variant_get("_v", "$.amount", "double"))
    )
    typed = _normalise(typed, rules)
    checks = _checks(typed, rules)
    reason = F.coalesce(*[F.when(bad, F.lit(code)) for bad, code, _ in checks])
    message = F.coalesce(*[F.when(bad, msg) for bad, _, msg in checks])
    return (
        typed.withColumn("reason", reason)
        .withColumn("message", message)
        .drop("_text", "_v", "_event_time_text", *[f"_t_{f}" for f in (*REQUIRED, "currency")])
    )


def _normalise(df: DataFrame, rules: Rules) -> DataFrame:
    """Trim ids; currency trimmed, upper case, defaulted when absent or null."""

    def trimmed(field: str) -> Column:
        return F.trim(F.try_variant_get("_v", f"$.{field}", "string"))

    out = df
    for f in IDS:
        out = out.withColumn(f, trimmed(f))
    currency = F.upper(trimmed("currency"))
    return out.withColumn("currency", F.coalesce(currency, F.lit(rules.default_currency)))
