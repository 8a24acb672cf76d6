"""A ranking model's requests from ingest's rows: the loop's order (event time to the second, then the
source order) and each event's truth, its key's next item."""

from __future__ import annotations

import pyarrow as pa

from services.training.sequences import ordered_events


def test_events_are_ordered_as_the_loop_stamps_them_and_answered_by_their_keys_next_item() -> None:
    rows = [  # id, key, item, time, partition, offset: written out of order, as a lake file may be
        ("c", "u1", "30", "2020-01-01T00:00:05.900Z", 0, 7),
        ("a", "u1", "10", "2020-01-01T00:00:05.100Z", 0, 5),
        ("x", "u2", "99", "2020-01-01T00:00:01Z", 1, 0),
        ("b", "u1", "20", "2020-01-01T00:00:05.700Z", 0, 6),  # same second as a and c: the offset decides
        ("d", "u1", "40", "2020-01-01T00:00:09Z", 0, 8),
        ("d", "u1", "40", "2020-01-01T00:00:09Z", 0, 8),  # a duplicate row is one event
    ]
    names = ["interaction_id", "user_id", "item_id", "event_time", "kafka_partition", "kafka_offset"]
    table = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
    table = table.set_column(3, "event_time", pa.array([r[3] for r in rows]).cast(pa.timestamp("ms", "UTC")))
    out = ordered_events(table, "interaction_id", "user_id", "item_id", "event_time")
    assert out["id"].tolist() == ["x", "a", "b", "c", "d"]
    assert out["truth"].tolist()[1:4] == ["20", "30", "40"]
    assert out["next_id"].tolist()[1:4] == ["b", "c", "d"]
    assert out.set_index("id")["truth"].isna().to_dict() == {
        "x": True,
        "a": False,
        "b": False,
        "c": False,
        "d": True,
    }
    assert out["seconds"].tolist() == [1577836801.0, 1577836805.0, 1577836805.0, 1577836805.0, 1577836809.0]
