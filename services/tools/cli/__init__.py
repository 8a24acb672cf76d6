"""The `rtloop` command: one typer app with a sub-command per tool."""

from services.tools.cli import data, demo, dlq, docs, features, k8s, lake, models, up
from services.tools.cli.app import app

__all__ = ["app", "data", "demo", "dlq", "docs", "features", "k8s", "lake", "models", "up"]
