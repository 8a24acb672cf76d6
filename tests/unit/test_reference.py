"""The generated configuration and CLI reference: complete, current, and found stale when it is not."""

from __future__ import annotations

from pathlib import Path

from services.tools.config import PROJECT_ROOT
from services.tools.deploy.reference import render, stale


def test_every_setting_and_command_is_described_and_the_committed_page_is_current() -> None:
    page = render()
    settings = page[: page.index("## CLI")]
    rows = [line for line in settings.splitlines() if line.startswith("| `")]
    assert len(rows) > 100
    assert not [r for r in rows if r.rstrip().endswith("|  |")], "a setting without a description"
    for expected in (
        "`RTLOOP_USECASE`",
        "`FEATURES_LABEL_WAIT_MS`",
        "`SCORER_PROVIDERS`",
        "### `rtloop dlq replay`",
    ):
        assert expected in page
    assert "/work/" not in page and str(PROJECT_ROOT) not in page, "paths are relative to the project"
    assert not stale(PROJECT_ROOT / "docs" / "reference.md"), "run `make docs`"


def test_a_page_that_differs_is_stale(tmp_path: Path) -> None:
    page = tmp_path / "reference.md"
    assert stale(page)
    page.write_text(render())
    assert not stale(page)
    page.write_text(render().replace("SCORER_PROVIDERS", "SCORER_PROVIDER"))
    assert stale(page)
