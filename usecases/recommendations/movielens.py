"""MovieLens-100K from the `recbole==1.2.1` wheel: fetched at set-up time, verified, never committed.

GroupLens's licence allows research use and forbids redistribution, so the files are not in this
repository nor in any image: `fetch` downloads the wheel (`pip download --no-deps`: neither RecBole nor
torch is installed), extracts its three ML-100K files into the cache and checks their rows and sha256.

The event order is time, then the file's order: 76% of the rows share a (user, timestamp) with another
row, and that tie-break is part of the evaluation protocol (`evaluation.py`)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from services.common.errors import ConfigError

__all__ = ["FILES", "WHEEL", "fetch", "load_interactions", "load_items", "verify"]

WHEEL = "recbole==1.2.1"
_IN_WHEEL = "recbole/dataset_example/ml-100k/"


@dataclass(frozen=True)
class _File:
    rows: int  # data rows, the header line not counted
    sha256: str


FILES = {
    "ml-100k.inter": _File(100_000, "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff"),
    "ml-100k.user": _File(943, "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972"),
    "ml-100k.item": _File(1_682, "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532"),
}


def verify(folder: Path) -> list[str]:
    """What is wrong with the ML-100K files in `folder` (nothing: an empty list)."""
    problems = []
    for name, expected in FILES.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} missing")
            continue
        data = path.read_bytes()
        rows = data.count(b"\n") - 1
        if rows != expected.rows:
            problems.append(f"{name}: {rows} rows, expected {expected.rows}")
        elif hashlib.sha256(data).hexdigest() != expected.sha256:
            problems.append(f"{name}: sha256 differs from recbole 1.2.1's")
    return problems


def fetch(folder: Path) -> Path:
    """`folder` holding the verified ML-100K files, downloaded and extracted unless already there."""
    if not verify(folder):
        return folder
    with tempfile.TemporaryDirectory(prefix="rtloop-recbole-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-q",
            "-d",
            tmp,
            WHEEL,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wheels = list(Path(tmp).glob("recbole-*.whl"))
        if done.returncode or not wheels:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ConfigError(
                f"could not download {WHEEL} with pip ({' / '.join(tail) or 'no wheel'}): check the network "
                "or PIP_INDEX_URL, then run the command again"
            )
        folder.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name in FILES:
                with wheel.open(_IN_WHEEL + name) as src, (folder / name).open("wb") as dst:
                    shutil.copyfileobj(src, dst)
    if problems := verify(folder):
        raise ConfigError(f"ML-100K in {folder} does not verify: {'; '.join(problems)}")
    return folder


def load_interactions(folder: Path) -> pd.DataFrame:
    """user, item, rating, time (UTC), row (the file's order), sorted by time then row."""
    raw = pd.read_csv(folder / "ml-100k.inter", sep="\t", header=0, names=["user", "item", "rating", "ts"])
    raw["row"] = range(len(raw))
    raw["time"] = pd.to_datetime(raw.pop("ts").astype("int64"), unit="s", utc=True)
    ordered = raw.sort_values(["time", "row"], kind="stable").reset_index(drop=True)
    return ordered.astype({"user": "int64", "item": "int64", "rating": "float64"})


def load_items(folder: Path) -> pd.DataFrame:
    """item, title, year (nullable), genres (a list of names), indexed by item."""
    raw = pd.read_csv(
        folder / "ml-100k.item", sep="\t", header=0, names=["item", "title", "year", "genres"], dtype=str
    )
    items = pd.DataFrame(
        {
            "item": raw["item"].astype("int64"),
            "title": raw["title"].fillna(""),
            "year": pd.to_numeric(raw["year"], errors="coerce").astype("Int64"),
            "genres": raw["genres"].fillna("").str.split(),
        }
    )
    items.index = pd.Index(items["item"].to_numpy())  # unnamed: "item" stays a column only
    return items
