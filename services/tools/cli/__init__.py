"""The `rtloop` command: one typer app with a sub-command per tool, and the use case's own commands."""

from services.tools.cli import dlq, docs, features, k8s, lake, models, up
from services.tools.cli.app import app, mount_usecase_commands

mount_usecase_commands()

__all__ = ["app", "dlq", "docs", "features", "k8s", "lake", "models", "up"]
