"""Export the wire contracts as JSON Schema files, and tell whether the files on disk are stale."""

from __future__ import annotations

import json
from pathlib import Path

from services.common.contracts import CONTRACTS

__all__ = ["render_schemas", "stale_schemas", "write_schemas"]


def render_schemas() -> dict[str, str]:
    """File name → JSON Schema text of every contract."""
    out = {}
    for stem, model in CONTRACTS.items():
        schema = model.model_json_schema(mode="validation")
        schema["$id"] = f"https://rtloop.dev/schemas/{stem}.json"
        out[f"{stem}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def write_schemas(folder: Path) -> list[Path]:
    """Write every schema into `folder`, removing files of contracts that no longer exist."""
    folder.mkdir(parents=True, exist_ok=True)
    rendered = render_schemas()
    for old in folder.glob("*.json"):
        if old.name not in rendered:
            old.unlink()
    paths = []
    for name, text in rendered.items():
        path = folder / name
        path.write_text(text)
        paths.append(path)
    return paths


def stale_schemas(folder: Path) -> list[str]:
    """Names of schema files that are missing, extra or differ from the contracts."""
    rendered = render_schemas()
    on_disk = {p.name: p.read_text() for p in folder.glob("*.json")}
    return sorted(name for name in set(rendered) | set(on_disk) if rendered.get(name) != on_disk.get(name))
