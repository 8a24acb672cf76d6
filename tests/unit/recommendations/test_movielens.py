"""ML-100K's files: what verification refuses, and the order and types the loaders give."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from services.common.errors import ConfigError
from usecases.recommendations import movielens
from usecases.recommendations.movielens import load_interactions, load_items, verify

INTER = (
    b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    + b"7\t30\t4\t900\n5\t10\t3\t800\n7\t20\t5\t800\n"
)
ITEMS = (
    b"item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    + b"10\tHeat\t1995\tAction Crime\n20\tOld\t\tFilm-Noir\n"
)


def test_verification_names_each_missing_short_or_changed_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = {"ml-100k.inter": INTER, "ml-100k.item": ITEMS}
    files = {
        "ml-100k.inter": movielens._File(3, hashlib.sha256(INTER).hexdigest()),
        "ml-100k.item": movielens._File(3, "0" * 64),
        "ml-100k.user": movielens._File(1, "0" * 64),
    }
    monkeypatch.setattr(movielens, "FILES", files)
    for name, content in data.items():
        (tmp_path / name).write_bytes(content)
    assert verify(tmp_path) == ["ml-100k.item: 2 rows, expected 3", "ml-100k.user missing"]
    files["ml-100k.item"] = movielens._File(2, "0" * 64)
    assert verify(tmp_path) == ["ml-100k.item: sha256 differs from recbole 1.2.1's", "ml-100k.user missing"]


def test_interactions_are_in_time_order_with_ties_in_file_order(tmp_path: Path) -> None:
    (tmp_path / "ml-100k.inter").write_bytes(INTER)
    frame = load_interactions(tmp_path)
    assert frame[["user", "item", "row"]].values.tolist() == [[5, 10, 1], [7, 20, 2], [7, 30, 0]]
    assert str(frame["time"].iloc[0]) == "1970-01-01 00:13:20+00:00"
    assert frame["rating"].tolist() == [3.0, 5.0, 4.0]


def test_items_have_their_genres_and_a_missing_year_stays_missing(tmp_path: Path) -> None:
    (tmp_path / "ml-100k.item").write_bytes(ITEMS)
    items = load_items(tmp_path)
    assert items.loc[10, "genres"] == ["Action", "Crime"] and items.loc[10, "year"] == 1995
    assert items.loc[20, "genres"] == ["Film-Noir"] and items["year"].isna().tolist() == [False, True]


def test_a_failed_download_says_what_to_check_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens on port 9
    monkeypatch.setenv("PIP_RETRIES", "0")
    with pytest.raises(
        ConfigError, match=r"could not download recbole==1\.2\.1 .*check the network or PIP_INDEX_URL"
    ):
        movielens.fetch(tmp_path / "ml-100k")
    assert not (tmp_path / "ml-100k").exists()
