"""The fast online path reads and writes exactly what Feast's SDK reads, on Redis and on sqlite."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value

from services.common.feast.repo import apply, online_store_config
from services.common.feast_online import open_reader
from services.common.feast_online_writers import open_writer
from services.features.config import FeaturesSettings
from tests.factories import declare
from usecases.fraud import CUSTOMER_FEATURES, FEATURE_NAMES, FRAUD_V1, TERMINAL_FEATURES

CUSTOMER_SPEC, TERMINAL_SPEC = FRAUD_V1.views

pytestmark = pytest.mark.integration


def _entity_key(join_key: str, entity: str) -> EntityKey:
    return EntityKey(join_keys=[join_key], entity_values=[Value(string_val=entity)])


@pytest.fixture(params=["redis", "sqlite"])
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> FeaturesSettings:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    if url:
        import redis

        redis.Redis.from_url(url).flushdb()
    else:  # REDIS_URL in the environment would win over redis_url=None (it is the field's alias)
        monkeypatch.delenv("REDIS_URL", raising=False)
    settings = FeaturesSettings(feast_data=tmp_path / "feast", lake_root=tmp_path / "lake", redis_url=url)
    assert online_store_config(settings)["type"] == request.param
    return settings


@pytest.mark.parametrize("read_back", [True, False], ids=["waves-read-back", "last-rows"])
def test_fast_writes_and_reads_match_feast_sdk(settings: FeaturesSettings, read_back: bool) -> None:
    store = apply(settings)
    writer = open_writer(online_store_config(settings), settings.feast_project)
    rng = random.Random(7)
    t = datetime(2018, 5, 1, tzinfo=UTC)
    values = {f"c{i}": {f: rng.uniform(0, 500) for f in FEATURE_NAMES} for i in range(300)}
    wave = [(CUSTOMER_SPEC, k, v, t) for k, v in values.items()]
    wave += [(TERMINAL_SPEC, f"t{i}", v, t) for i, v in enumerate(values.values())]
    # a later wave overwrites c0 and is read back right after it
    newer = {f: 1.5 for f in FEATURE_NAMES}
    seen = writer.write([wave, [(CUSTOMER_SPEC, "c0", newer, t + timedelta(seconds=1))]], read_back=read_back)
    if read_back:
        assert seen[1][0] == {f: 1.5 for f in CUSTOMER_FEATURES}
        assert seen[0][1] == {f: pytest.approx(values["c1"][f]) for f in CUSTOMER_FEATURES}
    else:
        assert seen == []

    ids = [f"c{i}" for i in range(300)] + ["missing"]
    sdk = store.get_online_features(
        features=store.get_feature_service(settings.feature_service),
        entity_rows=[{"customer_id": c, "terminal_id": f"t{i}"} for i, c in enumerate(ids)],
    ).to_dict()
    reader = open_reader(online_store_config(settings), settings.feast_project)
    fast_c = reader.read(CUSTOMER_SPEC, ids)
    fast_t = reader.read(TERMINAL_SPEC, [f"t{i}" for i in range(len(ids))])
    assert fast_c[-1] is None and fast_t[-1] is None  # an unknown entity: no row
    for i in range(len(ids) - 1):
        c, term = fast_c[i], fast_t[i]
        assert c is not None and term is not None
        for f in CUSTOMER_FEATURES:
            assert c[f] == sdk[f][i]
        for f in TERMINAL_FEATURES:
            assert term[f] == sdk[f][i]
    assert sdk["TX_AMOUNT"][0] == 1.5  # the later wave's row
    # Feast's own online read decodes the stored event times
    view = store.get_feature_view(CUSTOMER_SPEC.name)
    provider = store._get_provider()
    [(c0_ts, _), (c1_ts, _)] = provider.online_read(
        store.config, view, [_entity_key("customer_id", "c0"), _entity_key("customer_id", "c1")]
    )
    assert (c0_ts, c1_ts) == (t + timedelta(seconds=1), t)
    assert all(sdk[f][-1] is None for f in FEATURE_NAMES)
    # the scorer's array path reads the same values (NaN and not present for the unknown entity)
    terminal_ids = [f"t{i}" for i in range(len(ids))]
    (cv, cp), (tv, tp) = reader.read_matrices([(CUSTOMER_SPEC, ids), (TERMINAL_SPEC, terminal_ids)])
    assert cp.tolist() == [True] * (len(ids) - 1) + [False] and tp.tolist() == cp.tolist()
    assert np.isnan(cv[-1]).all() and np.isnan(tv[-1]).all()
    for i in range(len(ids) - 1):
        assert cv[i].tolist() == [sdk[f][i] for f in CUSTOMER_FEATURES]
        assert tv[i].tolist() == [sdk[f][i] for f in TERMINAL_FEATURES]


def test_a_sqlite_read_in_progress_does_not_hold_back_the_writer(tmp_path: Path) -> None:
    """The scorer reads the sqlite store while features writes it: a write commits at once beside a read
    (write-ahead log), where the rollback journal made it wait for the reader's lock."""
    settings = FeaturesSettings(feast_data=tmp_path / "feast", lake_root=tmp_path / "lake", redis_url=None)
    apply(settings)
    writer = open_writer(online_store_config(settings), settings.feast_project)
    t = datetime(2018, 5, 1, tzinfo=UTC)
    writer.write([[(CUSTOMER_SPEC, "c0", dict.fromkeys(FEATURE_NAMES, 1.0), t)]])
    reader = open_reader(online_store_config(settings), settings.feast_project)
    reader.conn.execute("BEGIN")  # a read that is still going on: its snapshot stays open
    assert reader.read(CUSTOMER_SPEC, ["c0"])[0] == dict.fromkeys(CUSTOMER_FEATURES, 1.0)
    reader.conn.execute("PRAGMA busy_timeout = 0")
    writer.reader.conn.execute("PRAGMA busy_timeout = 0")  # no waiting: a lock conflict raises
    writer.write([[(CUSTOMER_SPEC, "c0", dict.fromkeys(FEATURE_NAMES, 2.0), t + timedelta(seconds=1))]])
    assert reader.read(CUSTOMER_SPEC, ["c0"])[0] == dict.fromkeys(CUSTOMER_FEATURES, 1.0)  # its snapshot
    reader.conn.execute("COMMIT")
    assert reader.read(CUSTOMER_SPEC, ["c0"])[0] == dict.fromkeys(CUSTOMER_FEATURES, 2.0)


def test_lists_are_stored_as_feast_string_arrays_beside_the_numbers(
    settings: FeaturesSettings, tmp_path: Path
) -> None:
    """A view with a `last` aggregation: its lists go online as Feast Array(String) values, which the SDK
    and the fast reader read back; the numbers around them keep the fast path."""

    def with_lists(doc: dict[str, Any]) -> None:
        doc["features"]["views"][0]["aggregations"].append(
            {"function": "last", "column": "terminal_id", "n": 3, "name": "LAST_TERMINALS_{days}D"}
        )

    settings = settings.model_copy(update={"usecase": declare(tmp_path, with_lists)})
    spec = settings.declaration.feature_service.views[0]
    assert spec.lists == ("LAST_TERMINALS_1D", "LAST_TERMINALS_7D", "LAST_TERMINALS_30D")
    store = apply(settings)
    writer = open_writer(online_store_config(settings), settings.feast_project)
    t = datetime(2018, 5, 1, tzinfo=UTC)
    rows: dict[str, dict[str, float | list[str]]] = {
        f"c{i}": {
            **{f: float(i) for f in spec.features},
            **{n: [f"t{j}" for j in range(i % 4)] for n in spec.lists},
        }
        for i in range(20)
    }
    for read_back in (True, False):
        writer.write([[(spec, key, row, t) for key, row in rows.items()]], read_back=read_back)
    ids = [*rows, "missing"]
    reader = open_reader(online_store_config(settings), settings.feast_project)
    lists = reader.read_lists(spec, ids)
    assert lists[-1] is None
    assert lists[:-1] == [{n: row[n] for n in spec.lists} for row in rows.values()]
    sdk = store.get_online_features(
        features=[f"{spec.name}:{n}" for n in (*spec.lists, spec.features[-1])],
        entity_rows=[{"customer_id": c} for c in ids],
    ).to_dict()
    for i, row in enumerate(rows.values()):
        assert [sdk[n][i] for n in spec.lists] == [row[n] for n in spec.lists]
    ((values, present),) = reader.read_matrices([(spec, ids)])
    assert present.tolist() == [True] * len(rows) + [False]
    assert values[:-1, -1].tolist() == [float(i) for i in range(20)]
