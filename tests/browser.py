"""Headless Chromium (Debian's `chromium` package) for page tests: a screenshot and the rendered DOM."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["Dom", "chromium", "render"]


def chromium() -> str:
    """The browser binary, or a failure that says how to install it (tests are never skipped)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError("no headless browser: install Debian's chromium (apt-get install chromium)")


def render(url: str, screenshot: Path, width: int = 1280, height: int = 1600) -> str:
    """Load `url`, save a PNG screenshot and return the DOM after load."""
    base = [
        chromium(),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
    ]
    subprocess.run([*base, f"--screenshot={screenshot}", url], check=True, capture_output=True, timeout=120)
    done = subprocess.run([*base, "--dump-dom", url], check=True, capture_output=True, timeout=120, text=True)
    return done.stdout


class Dom(HTMLParser):
    """Start tags with their attributes, and the text, of an HTML document."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.texts.append(data.strip())

    @property
    def text(self) -> str:
        """All text, space-joined."""
        return " ".join(self.texts)
