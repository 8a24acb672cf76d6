"""Export the wire contracts as JSON Schema files, and tell whether the files on disk are stale."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from services.common.contracts import CONTRACTS, contracts_for
from services.common.usecase import USECASES, load_usecase

__all__ = ["render_schemas", "stale_schemas", "write_schemas"]


def _contracts() -> dict[str, type[BaseModel]]:
    """Relative path stem → model: the shared contracts, then each use case's under its name."""
    out = dict(CONTRACTS)
    for path in sorted(USECASES.glob("*/usecase.yaml")):
        declared = load_usecase(path.parent.name)
        out |= {f"{declared.name}/{stem}": m for stem, m in contracts_for(declared).stems.items()}
    return out


def render_schemas() -> dict[str, str]:
    """Relative file path → JSON Schema text of every contract."""
    out = {}
    for stem, model in _contracts().items():
        schema = model.model_json_schema(mode="validation")
        schema["$id"] = f"https://rtloop.dev/schemas/{stem}.json"
        out[f"{stem}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def _on_disk(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in folder.rglob("*.json")}


def write_schemas(folder: Path) -> list[Path]:
    """Write every schema under `folder`, removing files of contracts that no longer exist."""
    rendered = render_schemas()
    for name, old in _on_disk(folder).items():
        if name not in rendered:
            old.unlink()
    paths = []
    for name, text in rendered.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        paths.append(path)
    return paths


def stale_schemas(folder: Path) -> list[str]:
    """Names of schema files that are missing, extra or differ from the contracts."""
    rendered = render_schemas()
    on_disk = {name: p.read_text() for name, p in _on_disk(folder).items()}
    return sorted(name for name in set(rendered) | set(on_disk) if rendered.get(name) != on_disk.get(name))
