"""The fraud use case's own `rtloop` commands (its declaration names this module): simulate and replay,
its data tools, and demo."""

from usecases.fraud import data_commands as data
from usecases.fraud.demo import command as demo

__all__ = ["data", "demo"]
