"""Find and validate a use case's declaration: a name under `usecases/`, or a path to a YAML file."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml
from pydantic import ValidationError

from services.common.errors import ConfigError
from services.common.usecase.schema import UseCase

__all__ = ["USECASES", "declaration_path", "load_usecase"]

USECASES = Path(__file__).resolve().parents[3] / "usecases"


def declaration_path(name: str) -> Path:
    """`usecases/<name>/usecase.yaml` for a name; a path (it ends in .yaml or .yml) as it is."""
    if name.endswith((".yaml", ".yml")):
        return Path(name)
    return USECASES / name / "usecase.yaml"


@functools.cache
def load_usecase(name: str = "fraud") -> UseCase:
    """The validated declaration, or ConfigError naming the file and each wrong key."""
    path = declaration_path(name)
    if not path.is_file():
        known = sorted(p.parent.name for p in USECASES.glob("*/usecase.yaml"))
        raise ConfigError(
            f"use case {name!r} not found: no {path} (RTLOOP_USECASE names one of {', '.join(known)}, "
            "or a declaration's .yaml path)"
        )
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return UseCase.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems} (the schema: services/common/usecase/schema.py)") from None
