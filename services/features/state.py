"""One input partition's window state: a table whose changes in a batch become changelog records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from services.features.handlers import FeatureEngine
from services.features.windows import EntityWindows

__all__ = ["PartitionState", "StateTable"]


class StateTable(dict[str, Any]):
    """Entity key → state (an `EntityWindows`, or the JSON form a restore read, loaded on first use),
    plus the engine's private keys; tracks the keys a batch changed."""

    def __init__(self, stored: dict[str, Any] | None = None) -> None:
        super().__init__(stored or {})
        self.changed: set[str] = set()
        self._born: set[str] = set()  # keys the batch added

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self.changed and key not in self:
            self._born.add(key)
        self.changed.add(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.changed.add(key)
        super().__delitem__(key)

    def records(self) -> list[tuple[str, bytes | None]]:
        """The changed keys as changelog records (None: a tombstone; an empty window state is one, and
        leaves the table)."""
        out: list[tuple[str, bytes | None]] = []
        for key in sorted(self.changed):
            value = self.get(key)
            if isinstance(value, EntityWindows):
                if len(value):
                    value = value.dump()
                else:
                    super().__delitem__(key)
                    value = None
            if value is not None or key not in self._born:  # added and gone in one batch: no record
                out.append((key, None if value is None else orjson.dumps(value)))
        self.changed.clear()
        self._born.clear()
        return out


class PartitionState:
    """The table and the engine of one view over one input partition, from its changelog records."""

    def __init__(self, stored: dict[str, bytes], engine: Callable[[StateTable], FeatureEngine]) -> None:
        self.table = StateTable({k: orjson.loads(v) for k, v in stored.items()})
        self.engine = engine(self.table)
