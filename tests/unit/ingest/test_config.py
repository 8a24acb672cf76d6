"""Ingest settings: which queries a process runs, and the task slots that asks for."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.ingest.adapters.spark import resolve_master
from services.ingest.config import IngestSettings


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("clean,lake", {"clean", "lake"}),
        ("lake", {"lake"}),
        ("clean", {"clean"}),
        ("lake,clean", {"clean", "lake"}),
        ("", {"clean", "lake"}),  # empty counts as unset: the default, both
    ],
)
def test_queries_name_what_the_process_runs(
    value: str, names: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INGEST_QUERIES", value)
    assert IngestSettings().query_names == names


@pytest.mark.parametrize("value", [",", "clean,lake,clean", "lakes", "clean;lake"])
def test_an_unknown_query_list_is_refused_naming_the_setting(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INGEST_QUERIES", value)
    with pytest.raises(ValidationError, match="queries"):
        IngestSettings()


@pytest.mark.parametrize(
    ("queries", "mode", "master"),
    [
        ("clean,lake", "realtime", "local[8]"),
        ("clean", "realtime", "local[8]"),
        ("lake", "realtime", "local[*]"),
        ("clean,lake", "microbatch", "local[*]"),
    ],
)
def test_only_a_real_time_clean_path_widens_local_star(
    queries: str, mode: str, master: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real-time mode holds a task slot per raw partition; a lake-only process needs none of them."""
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    settings = IngestSettings(queries=queries, clean_mode=mode)
    assert resolve_master(settings.spark_master, 6, settings.realtime_clean) == master
