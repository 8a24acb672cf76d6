"""The fraud transaction simulator of HANDBOOK.md §1, reproducing the book's data exactly."""

from usecases.fraud.simulator.generate import SimulationConfig, simulate

__all__ = ["SimulationConfig", "simulate"]
