"""Cleaning rules, from the declared event fields, as pure DataFrame → DataFrame functions (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from services.common.usecase.events import EventSpec, FieldSpec

__all__ = ["Rules", "classify", "window_against_retention"]

_INTEGRAL = ("BIGINT", "INT", "SMALLINT", "TINYINT")
_NUMERIC = (*_INTEGRAL, "DOUBLE", "FLOAT")
_OFFSET = r"(Z|z|[+-]\d{2}:?\d{2})$"
_JSON_NULL = ("VOID", "NULL")  # how schema_of_variant names a JSON null
_ID_LENGTH = 128
_EPOCH_MS = (-62_135_596_800_000, 253_402_300_799_999)  # years 1 to 9999; Spark overflows past them
_EXPECTED = {
    "id": "a JSON string",
    "string": "a JSON string",
    "number": "a JSON number",
    "boolean": "a JSON boolean",
    "timestamp": "an RFC 3339 string or epoch milliseconds",
}
_GROUPS = ("id", "number", "timestamp", "string")  # the order of the value checks


@dataclass(frozen=True)
class Rules:
    """The declared event and the cleaning limits beyond its fields' own."""

    event: EventSpec
    max_value_bytes: int = 1_048_576
    max_future_skew_s: float = 300.0
    max_event_age_days: float = 10_000.0


def _type(v: Column, field: str) -> Column:
    """The JSON type of a field as Spark names it (STRING, BIGINT, DECIMAL(3,1), NULL, …)."""
    return F.schema_of_variant(F.variant_get(v, f"$.{field}", "variant"))


def _json_type_ok(spec: FieldSpec, kind: Column) -> Column:
    if spec.type in ("id", "string"):
        return kind == "STRING"
    if spec.type == "number":
        return kind.isin(*_NUMERIC) | kind.startswith("DECIMAL")
    if spec.type == "boolean":
        return kind == "BOOLEAN"
    return kind.isin("STRING", *_INTEGRAL)


def _parsed(field: str, spec: FieldSpec) -> Column:
    """The typed, normalised value: ids and strings trimmed (strings case-folded and defaulted),
    timestamps from RFC 3339 or epoch milliseconds, numbers as doubles."""
    path = f"$.{field}"
    if spec.type == "timestamp":
        kind = F.col(f"_t_{field}")
        text = F.trim(F.try_variant_get("_v", path, "string")).try_cast("timestamp")
        epoch = F.try_variant_get("_v", path, "bigint")
        millis = F.when(epoch.between(*_EPOCH_MS), F.timestamp_millis(epoch))  # beyond: cannot parse
        return F.when(kind == "STRING", text).when(kind.isin(*_INTEGRAL), millis)
    if spec.type in ("id", "string"):
        value = F.trim(F.try_variant_get("_v", path, "string"))
        value = F.upper(value) if spec.case == "upper" else F.lower(value) if spec.case == "lower" else value
    else:
        value = F.try_variant_get("_v", path, "double" if spec.type == "number" else "boolean")
    return value if spec.default is None else F.coalesce(value, F.lit(spec.default))


def _value_checks(field: str, spec: FieldSpec, rules: Rules) -> list[tuple[Column, str, Column]]:
    """(failed?, reason, message) of one field's value, once its JSON type is right."""
    c = F.col(field)
    if spec.type == "id":
        longest = spec.max_length or _ID_LENGTH
        return [
            (F.length(c) == 0, "empty_id", F.lit(f"{field}: empty after trimming spaces")),
            (F.length(c) > longest, "id_too_long", F.lit(f"{field}: longer than {longest} characters")),
        ]
    if spec.type == "number":
        checks = [
            (
                F.isnan(c) | c.isin(float("inf"), float("-inf")),
                f"{field}_not_finite",
                F.lit(f"{field}: must be a finite number"),
            )
        ]
        if spec.min is not None:
            low = "negative" if spec.min == 0 else f"below {spec.min:g}"
            reason = f"{field}_negative" if spec.min == 0 else f"{field}_too_small"
            checks.append(
                (c < spec.min, reason, F.concat(F.lit(f"{field}: {low} ("), c.cast("string"), F.lit(")")))
            )
        if spec.below is not None:
            checks.append(
                (
                    c >= spec.below,
                    f"{field}_too_large",
                    F.concat(F.lit(f"{field}: not under {spec.below:g} ("), c.cast("string"), F.lit(")")),
                )
            )
        return checks
    if spec.type == "timestamp":
        text = F.try_variant_get("_v", f"$.{field}", "string")
        checks = [
            (
                (F.col(f"_t_{field}") == "STRING") & ~F.trim(text).rlike(_OFFSET),
                "timestamp_without_offset",
                F.lit(f"{field}: RFC 3339 needs Z or an offset"),
            ),
            (
                c.isNull() & F.col(f"_t_{field}").isin("STRING", *_INTEGRAL),
                "bad_timestamp",
                F.concat(F.lit(f"{field}: cannot parse "), F.coalesce(F.substring(text, 1, 40), F.lit("?"))),
            ),
        ]
        if field == rules.event.time:
            skew, age = rules.max_future_skew_s, rules.max_event_age_days
            checks += [
                (
                    c > F.col("timestamp") + F.make_dt_interval(secs=F.lit(skew)),
                    "future_timestamp",
                    F.lit(f"{field}: more than {skew:g}s after the record's time"),
                ),
                (
                    c < F.col("timestamp") - F.make_dt_interval(days=F.lit(int(age))),
                    "ancient_timestamp",
                    F.lit(f"{field}: older than {age:g} days"),
                ),
            ]
        return checks
    checks = []
    if spec.type == "string" and spec.max_length:
        longest = spec.max_length
        checks.append((F.length(c) > longest, f"{field}_too_long", F.lit(f"{field}: longer than {longest}")))
    if spec.type == "string" and spec.pattern:
        checks.append(
            (
                ~c.rlike(spec.pattern),
                f"bad_{field}",
                F.concat(F.lit(f"{field}: does not match {spec.pattern}, got "), F.substring(c, 1, 40)),
            )
        )
    return checks


def _checks(rules: Rules) -> list[tuple[Column, str, Column]]:
    """(failed?, reason, message) in priority order: the first failing rule names the reason."""
    c, fields = F.col, rules.event.fields
    size = rules.max_value_bytes
    checks: list[tuple[Column, str, Column]] = [
        (c("value").isNull() | (F.length("value") == 0), "empty_value", F.lit("empty value")),
        (
            F.length("value") > size,
            "too_large",
            F.format_string(f"value of %d bytes exceeds {size}", F.length("value")),
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
    for f, spec in fields.items():
        if spec.required:
            t = c(f"_t_{f}")
            checks.append(
                (t.isNull() | t.isin(*_JSON_NULL), "missing_field", F.lit(f"{f}: required field missing"))
            )
    for f, spec in fields.items():
        t = c(f"_t_{f}")
        bad = ~_json_type_ok(spec, t)
        if not spec.required:
            bad = t.isNotNull() & ~t.isin(*_JSON_NULL) & bad
        checks.append((bad, "wrong_type", F.concat(F.lit(f"{f}: expected {_EXPECTED[spec.type]}, got "), t)))
    for group in _GROUPS:
        for f, spec in fields.items():
            if spec.type == group:
                checks += _value_checks(f, spec, rules)
    return checks


def classify(raw: DataFrame, rules: Rules) -> DataFrame:
    """Kafka rows (key, value, topic, partition, offset, timestamp, headers) → the declared fields,
    typed and normalised, plus `reason` and `message` (both null for a valid event)."""
    text = F.col("value").cast("string")
    parseable = (F.length("value") <= rules.max_value_bytes) & F.is_valid_utf8(text)
    typed = raw.withColumn("_text", text).withColumn("_v", F.when(parseable, F.try_parse_json(text)))
    fields = rules.event.fields
    for f in fields:
        typed = typed.withColumn(f"_t_{f}", _type(F.col("_v"), f))
    for f, spec in fields.items():
        typed = typed.withColumn(f, _parsed(f, spec))
    checks = _checks(rules)
    reason = F.coalesce(*[F.when(bad, F.lit(code)) for bad, code, _ in checks])
    message = F.coalesce(*[F.when(bad, msg) for bad, _, msg in checks])
    return (
        typed.withColumn("reason", reason)
        .withColumn("message", message)
        .drop("_text", "_v", *[f"_t_{f}" for f in fields])
    )


_UNIT_S = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86_400, "weeks": 604_800}


def window_against_retention(window: str, topic: str, retention_ms: int) -> str | None:
    """What a de-duplication window (a Spark interval, "7 days") shorter than the raw topic's retention
    (-1: forever) lets through, or None when it covers every copy the topic can hold at once."""
    count, unit = window.split()
    window_s = int(count) * _UNIT_S[unit]
    if 0 <= retention_ms <= window_s * 1000:
        return None
    kept = "forever" if retention_ms < 0 else f"{retention_ms / 86_400_000:g} days"
    return (
        f"INGEST_DEDUP_WATERMARK ({window}) is shorter than {topic}'s retention ({kept}): a copy of an event "
        f"re-sent more than {window} after the first reaches the lake twice; raise the window to the "
        "retention (state on disk grows with it) or shorten the retention"
    )
