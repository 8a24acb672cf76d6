"""The layout shows the architecture: no service reaches into another's internals, and nothing under
services/ imports a use case or names one's fields (DESIGN.md §2)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kafka_helpers import ROOT

SERVICES = ("ingest", "features", "scorer", "monitor", "training", "echo")
# the declarations' own names: none may appear in services/ as code (docstrings may cite them)
FRAUD_NAMES = ("tx_id", "customer_id", "terminal_id", "is_fraud", "tx_event_time", "TX_AMOUNT", "fraud_v1")
RECOMMENDATION_NAMES = (
    *("interaction_id", "user_id", "item_id", "USER_RECENT_ITEMS", "USER_SEEN_ITEMS", "reco_v1"),
    *("USER_NB_", "ITEM_NB_", "ITEM_USERS_", "user_activity", "item_popularity"),
)


def _modules(folder: Path) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(folder.rglob("*.py")):
        yield path, ast.parse(path.read_text(), str(path))


def _imports(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def _docstrings(tree: ast.Module) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service: str) -> None:
    others = tuple(f"services.{s}" for s in SERVICES if s != service)
    found = [
        f"{path.relative_to(ROOT)}: {name}"
        for path, tree in _modules(ROOT / "services" / service)
        for name in _imports(tree)
        if name.startswith(others)
    ]
    assert found == [], "what two services need belongs in services/common"


def test_nothing_under_services_imports_or_names_a_use_case() -> None:
    found = []
    for path, tree in _modules(ROOT / "services"):
        where = path.relative_to(ROOT)
        found += [f"{where}: imports {n}" for n in _imports(tree) if n.split(".")[0] == "usecases"]
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            text = (
                node.value
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
                else node.id
                if isinstance(node, ast.Name)
                else node.attr
                if isinstance(node, ast.Attribute)
                else ""
            )
            names = FRAUD_NAMES + RECOMMENDATION_NAMES
            found += [f"{where}:{node.lineno}: {n}" for n in names if n in text]  # type: ignore[attr-defined]
    assert found == [], "a use case's specifics live in its declaration under usecases/"
