"""The recommendations use case's own `rtloop` commands (its declaration names this module): demo."""

from usecases.recommendations.demo import command as demo

__all__ = ["demo"]
