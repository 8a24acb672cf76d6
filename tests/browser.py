"""Headless Chromium (Debian's `chromium` package) for page tests: a screenshot and the rendered DOM."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["Dom", "chromium", "colored_pixels", "render"]


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


def _rows(png: bytes) -> list[bytes]:
    """The unfiltered scanlines of an 8-bit RGB or RGBA PNG (what Chromium's screenshots are)."""
    width, height, depth, color = struct.unpack(">IIBB", png[16:26])
    assert depth == 8 and color in (2, 6), f"an 8-bit RGB(A) PNG, got depth {depth} colour type {color}"
    data, at = b"", 8
    while at < len(png):
        size, kind = struct.unpack(">I4s", png[at : at + 8])
        if kind == b"IDAT":
            data += png[at + 8 : at + 8 + size]
        at += 12 + size
    raw, bpp = zlib.decompress(data), 3 if color == 2 else 4
    stride, rows, prior = width * bpp, [], bytes(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prior[i], prior[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line[j] for j in range(stride) if j % bpp < 3))
        prior = bytes(line)
    return rows


def colored_pixels(screenshot: Path) -> int:
    """Pixels of a clear colour (not white, grey or black): a chart's lines and markers, not its text."""
    count = 0
    for row in _rows(screenshot.read_bytes()):
        for x in range(0, len(row), 3):
            r, g, b = row[x], row[x + 1], row[x + 2]
            count += max(r, g, b) - min(r, g, b) > 60
    return count
